"""One module per root script: each has build_parser() and main(argv=None) -> int."""
