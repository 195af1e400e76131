"""BlazeFace's numpy parts: anchors, weighted NMS, tiles and duplicate suppression."""

from __future__ import annotations

import numpy as np

from emotion.face.blazeface import FULL, SHORT, anchor_centers, same_face, suppress_contained, tile_grid, weighted_nms


def test_anchors_match_the_networks_outputs():
    short, full = anchor_centers(SHORT), anchor_centers(FULL)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # short range: a 16x16 grid with 2 anchors per cell, then an 8x8 grid with 6
    assert np.allclose(short[0], [0.5 / 16, 0.5 / 16]) and np.allclose(short[1], short[0])
    assert np.allclose(short[512], [0.5 / 8, 0.5 / 8]) and np.allclose(short[517], short[512])
    assert np.allclose(full[48], [0.5 / 48, 1.5 / 48])  # row-major: the 49th anchor starts the second row
    assert full.min() > 0 and full.max() < 1


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    kept = weighted_nms(boxes, np.array([0.9, 0.6, 0.8], np.float32))
    assert [round(s, 2) for _, s in kept] == [0.9, 0.8]
    merged = kept[0][0]
    assert np.allclose(merged, (boxes[0] * 0.9 + boxes[1] * 0.6) / 1.5)


def test_tiles_cover_the_frame_with_overlap():
    for width, height, side in ((1920, 1080, 1080), (2560, 1912, 1912), (1080, 1920, 1080), (640, 360, 640)):
        grid = tile_grid(width, height, side)
        covered = np.zeros((height, width), bool)
        for x, y in grid:
            assert x + side <= max(width, side) and y + side <= max(height, side)
            covered[y : y + side, x : x + side] = True
        assert covered.all(), (width, height)
    assert tile_grid(1920, 1080, 1080) == [(0, 0), (840, 0)]


def test_a_face_cut_by_a_tile_or_framed_twice_is_kept_once():
    face = np.array([100, 100, 200, 200], np.float32)
    cut = np.array([150, 100, 200, 200], np.float32)  # the right half, from a tile that cut the face
    shifted = np.array([120, 90, 230, 210], np.float32)  # the same face framed by the other network
    neighbour = np.array([210, 100, 310, 200], np.float32)
    assert same_face(cut, face) and same_face(shifted, face) and not same_face(neighbour, face)
    kept = suppress_contained([(face, 0.9), (cut, 0.7), (shifted, 0.6), (neighbour, 0.8)])
    assert [s for _, s in kept] == [0.9, 0.8]
