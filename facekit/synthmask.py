"""Synthetic face masks drawn on unmasked faces, for training mask models.

The public mask dataset pastes one light-blue surgical mask, always the same shape and placed
below the nose, onto every `with_mask` photo. A model trained on it learns that picture, not
"a mask": measured here it labels only 67% of real masked faces right. Drawing masks of many
colours, patterns and shapes over the nose and chin of unmasked training faces (placed from the
detector's five key points) teaches the concept instead. Used by the trainer's `--synth-masks`;
only training-split images are ever drawn on.
"""

from __future__ import annotations

import cv2
import numpy as np

# YuNet key point order: right eye, left eye (image left/right swapped: subject's), nose tip,
# right mouth corner, left mouth corner. Only the geometry below depends on it.
EYE_A, EYE_B, NOSE, MOUTH_A, MOUTH_B = range(5)


def _face_frame(kps: np.ndarray):
    """Origin between the eyes, x along the eye line, y down the face, unit = eye distance."""
    a, b = kps[EYE_A], kps[EYE_B]
    left, right = (a, b) if a[0] < b[0] else (b, a)
    origin = (left + right) / 2.0
    ex = right - left
    iod = float(np.hypot(*ex))
    ux = ex / max(iod, 1e-6)
    uy = np.array([-ux[1], ux[0]])
    if np.dot(kps[NOSE] - origin, uy) < 0:  # keep y pointing from the eyes to the mouth
        uy = -uy
    return origin, ux, uy, iod


def mask_polygon(kps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Outline of a mask covering nose to chin, in image coordinates (float32, (M, 2))."""
    origin, ux, uy, iod = _face_frame(kps.astype(np.float64))
    mouth = (kps[MOUTH_A] + kps[MOUTH_B]) / 2.0
    mouth_y = float(np.dot(mouth - origin, uy)) / iod
    nose_y = float(np.dot(kps[NOSE] - origin, uy)) / iod
    top = rng.uniform(0.25, 0.55) * nose_y  # from the nose bridge down to mid-nose
    bottom = mouth_y + rng.uniform(0.55, 0.95) * max(mouth_y - nose_y, 0.25)  # under the chin
    half_w = rng.uniform(0.95, 1.25)
    shift = float(np.dot(kps[NOSE] - origin, ux)) / iod * 0.5  # turned faces: follow the nose
    pts = []
    # top edge: a slight arch over the nose
    for t in np.linspace(-1, 1, 9):
        pts.append((t * half_w * 0.9 + shift * (1 - abs(t)), top + 0.12 * t * t - 0.05 * rng.random()))
    # sides and bottom: half ellipse from one cheek round the chin to the other
    cy = top + 0.25 * (bottom - top)
    ry = bottom - cy
    for ang in np.linspace(0, np.pi, 15):
        pts.append((half_w * np.cos(ang) + shift * np.sin(ang) * 0.6, cy + ry * np.sin(ang) ** rng.uniform(0.8, 1.3)))
    outline = np.array(pts)
    img_pts = origin + outline[:, :1] * iod * ux + outline[:, 1:] * iod * uy
    return img_pts.astype(np.float32)


def _texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A mask fabric: plain, two-colour pattern, pleats or noise (RGB float 0..255)."""
    base = rng.uniform(0, 255, 3)
    if rng.random() < 0.35:  # the common pale surgical / white / black masks, more often
        base = np.array([rng.choice([235, 210, 60, 140]) + rng.uniform(-20, 20)] * 3) + rng.uniform(-30, 30, 3)
    tex: np.ndarray = np.broadcast_to(base, (h, w, 3)).astype(np.float32).copy()
    kind = rng.integers(0, 5)
    yy, xx = np.mgrid[0:h, 0:w]
    other = rng.uniform(0, 255, 3)
    if kind == 1:  # pleats / stripes
        period = rng.uniform(3, 10)
        angle = rng.uniform(-0.3, 0.3)
        wave = (np.sin((yy + angle * xx) * 2 * np.pi / period) > 0.6)[..., None]
        tex = np.where(wave, tex * 0.8, tex)
    elif kind == 2:  # dots / print
        period = rng.uniform(5, 14)
        dots = ((np.mod(yy, period) - period / 2) ** 2 + (np.mod(xx + (yy // period) * period / 2, period)
                                                          - period / 2) ** 2) < (period / 4) ** 2
        tex = np.where(dots[..., None], other, tex)
    elif kind == 3:  # noise fabric (knit, camo-like blotches)
        noise = cv2.resize(rng.uniform(0, 1, (max(2, h // 8), max(2, w // 8))).astype(np.float32), (w, h))
        tex = tex * (1 - noise[..., None]) + other * noise[..., None]
    tex += rng.normal(0, rng.uniform(2, 12), tex.shape)  # fabric grain
    return tex


def draw_mask(image: np.ndarray, kps: np.ndarray, rng: np.random.Generator, gray: bool = False) -> np.ndarray:
    """A copy of `image` (H, W, 3 uint8, any channel order) with a synthetic mask drawn over the
    nose and chin located by the 5 key points `kps` (in the image's pixel coordinates). `gray`: for a
    model that reads grey faces the result is grey too (3 equal channels), as inference greys a real mask
    with the rest of the face; a coloured mask on a grey face is a cue it would never see in use."""
    h, w = image.shape[:2]
    poly = mask_polygon(kps, rng)
    alpha: np.ndarray = np.zeros((h, w), np.float32)
    cv2.fillPoly(alpha, [np.round(poly * 4).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=2)
    soft = rng.uniform(0.5, 1.5) * max(h, w) / 128
    alpha = cv2.GaussianBlur(alpha, (0, 0), soft)
    # Keep the photo's lighting so the mask sits in the scene: shade by the face's own luminance.
    lum: np.ndarray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lum = cv2.GaussianBlur(lum, (0, 0), max(1.0, max(h, w) / 40))
    shade = np.clip(lum / max(float(lum[alpha > 0.5].mean()) if (alpha > 0.5).any() else 128.0, 1.0), 0.5, 1.4)
    tex = _texture(h, w, rng) * (0.6 + 0.4 * shade[..., None])
    out = image.astype(np.float32) * (1 - alpha[..., None]) + np.clip(tex, 0, 255) * alpha[..., None]
    if rng.random() < 0.5:  # ear loops
        loop_color = tuple(float(c) for c in np.clip(tex[int(h / 2), int(w / 2)] * 0.9, 0, 255))
        top_l, top_r = poly[0], poly[8]
        thick = max(1, int(round(max(h, w) / 100)))
        for p, side in ((top_l, -1), (top_r, 1)):
            end = (int(np.clip(p[0] + side * 0.25 * w, 0, w - 1)), int(np.clip(p[1] - 0.02 * h, 0, h - 1)))
            cv2.line(out, (int(p[0]), int(p[1])), end, loop_color, thick, cv2.LINE_AA)
    out = np.clip(out, 0, 255).astype(np.uint8)
    return np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2) if gray else out


HEAD_IN_FRONT = 0.5  # share of occluders drawn as another head in front rather than a few small blobs


def draw_occluder(image: np.ndarray, kps: np.ndarray, donor: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hard negative for the mask head: a copy of unmasked `image` with part of the mouth and chin hidden
    by something that is not a mask, cut from `donor` (another unmasked face crop: skin, hair, a collar,
    background), as another person's head, a shoulder or a hand hides faces in a crowd: a few small soft
    blobs, or (HEAD_IN_FRONT of the time) one big round mass from below, like a head in front. Trained on masks
    alone, a head calls any covered mouth a mask: 17 of 84 unmasked street faces of 24 px and more in
    mask_scenes_val, mostly half-hidden behind someone else.
    `kps` (5 key points, image px) places the blob; NaN key points fall back to where a crop's mouth is."""
    h, w = image.shape[:2]
    if np.isnan(kps).any():
        mouth, iod = np.array([0.5 * w, 0.72 * h]), 0.38 * w
    else:
        mouth = (kps[MOUTH_A] + kps[MOUTH_B]) / 2.0
        iod = max(float(np.hypot(*(kps[EYE_A] - kps[EYE_B]))), 0.15 * w)
    alpha: np.ndarray = np.zeros((h, w), np.float32)
    head = rng.random() < HEAD_IN_FRONT
    if head:
        # The back of another head in front: one big round mass, wider than the mouth, whose top edge
        # crosses the face between the nose and the chin (the street faces still called masked after the
        # blobs below were mostly hidden this way, from the nose down, by dark hair).
        axes = np.array([rng.uniform(1.0, 2.0), rng.uniform(1.0, 2.0)]) * iod
        top = mouth[1] + rng.uniform(-0.8, 0.3) * iod
        c = (mouth[0] + rng.uniform(-1.0, 1.0) * iod, top + axes[1])
        cv2.ellipse(alpha, (int(c[0]), int(c[1])), (max(1, int(axes[0])), max(1, int(axes[1]))),
                    float(rng.uniform(-20, 20)), 0, 360, 1.0, -1, cv2.LINE_AA)
    else:
        centre = mouth + np.array([rng.uniform(-1.3, 1.3), rng.uniform(-0.1, 1.1)]) * iod
        axes = np.array([rng.uniform(0.6, 1.5), rng.uniform(0.5, 1.2)]) * iod
        # A few overlapping ellipses: an outline no mask has.
        for _ in range(rng.integers(1, 4)):
            c = centre + rng.normal(0, 0.25, 2) * iod
            cv2.ellipse(alpha, (int(c[0]), int(c[1])), (max(1, int(axes[0] * rng.uniform(0.6, 1.0))),
                                                         max(1, int(axes[1] * rng.uniform(0.6, 1.0)))),
                        float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 2.0) * max(h, w) / 128)
    # The donor region: a random window of the donor face, so it brings an eye, hair, skin or background;
    # for a head, the top of the donor crop, where its hair is.
    dh, dw = donor.shape[:2]
    for _ in range(5):
        s = rng.uniform(0.35, 1.0)
        ww, hh = max(2, int(dw * s)), max(2, int(dh * (rng.uniform(0.2, 0.4) if head else s)))
        x0, y0 = int(rng.integers(0, dw - ww + 1)), 0 if head else int(rng.integers(0, dh - hh + 1))
        patch = cv2.resize(donor[y0:y0 + hh, x0:x0 + ww], (w, h), interpolation=cv2.INTER_LINEAR)
        if patch.std() >= 18:  # a flat, pale patch over the mouth is what a mask looks like: not that
            break
    out = image.astype(np.float32) * (1 - alpha[..., None]) + patch.astype(np.float32) * alpha[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)
