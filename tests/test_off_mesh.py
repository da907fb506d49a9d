"""OFF parsing and uniform surface sampling (``pytest -k off_mesh``)."""
import numpy as np
import pytest

from perceiver_edu.data.off_mesh import (OFFError, normalize_unit_sphere, parse_off, read_off, sample_surface,
                                         triangle_areas)

SQUARE_QUAD = """OFF
# a unit square as one quad
4 1 0
0 0 0
1 0 0
1 1 0
0 1 0
4 0 1 2 3
"""


def test_off_mesh_reads_triangles(tmp_path):
    path = tmp_path / "tri.off"
    path.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n0 2 0\n3 0 1 2\n")
    vertices, faces = read_off(path)
    np.testing.assert_array_equal(vertices, [[0, 0, 0], [1, 0, 0], [0, 2, 0]])
    np.testing.assert_array_equal(faces, [[0, 1, 2]])
    assert vertices.dtype == np.float64 and faces.dtype == np.int64


def test_off_mesh_splits_quads_into_two_triangles(tmp_path):
    path = tmp_path / "quad.off"
    path.write_text(SQUARE_QUAD)
    vertices, faces = read_off(path)
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3]])
    assert triangle_areas(vertices, faces).sum() == pytest.approx(1.0)


def test_off_mesh_mixed_faces_comments_blank_lines_and_colours():
    text = ("# made by hand\nOFF  # keyword\n\n5 2 0\n0 0 0\n1 0 0 # a comment after a vertex\n1 1 0\n0 1 0\n"
            "0 0 1\n\n4 0 1 2 3 255 0 0\n3 0 1 4\n")
    vertices, faces = parse_off(text, "mixed.off")
    assert vertices.shape == (5, 3)
    np.testing.assert_array_equal(faces, [[0, 1, 2], [0, 2, 3], [0, 1, 4]])


def test_off_mesh_reads_counts_glued_to_the_keyword():  # as in some ModelNet files: "OFF490 518 0"
    vertices, faces = parse_off("OFF3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    assert vertices.shape == (3, 3) and faces.tolist() == [[0, 1, 2]]


@pytest.mark.parametrize("text, message", [
    ("PLY\n3 1 0\n", r"bad\.off: not an OFF file: expected the header 'OFF', found 'PLY'"),
    ("", r"bad\.off: not an OFF file: .*empty file"),
    ("OFF\nthree one zero\n0 0 0\n", r"bad\.off: malformed header: expected 'num_vertices num_faces num_edges'"),
    ("OFF\n3\n", r"bad\.off: malformed header"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", r"bad\.off: a face refers to vertex 7, outside 0\.\.2"),
    ("OFF\n3 1 0\n0 0 0\n1 0\n0 1 0\n3 0 1 2\n", r"bad\.off: .*three coordinates"),
    ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n2 0 1\n", r"bad\.off: face 0 must list n >= 3 vertex indices"),
])
def test_off_mesh_malformed_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.off"
    path.write_text(text)
    with pytest.raises(OFFError, match=message):
        read_off(path)


def test_off_mesh_truncated_file(tmp_path):
    full = "OFF\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n"
    path = tmp_path / "cut.off"
    path.write_text(full[:len(full) - 8])  # the last face is gone
    with pytest.raises(OFFError, match=r"cut\.off: truncated: the header declares 4 vertices and 2 faces, "
                                       r"the file has 5 lines after it"):
        read_off(path)
    path.write_text(full[:len(full) - 3])  # the last face cut inside its line
    with pytest.raises(OFFError, match=r"cut\.off: face 1 must list n >= 3 vertex indices"):
        read_off(path)


TWO_TRIANGLES = (np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0],  # area 1, in the plane z = 0
                           [0, 0, 1], [3, 0, 1], [0, 2, 1]], dtype=float),  # area 3, in the plane z = 1
                 np.array([[0, 1, 2], [3, 4, 5]]))


def test_off_mesh_sampler_picks_triangles_by_area():
    vertices, faces = TWO_TRIANGLES
    np.testing.assert_allclose(triangle_areas(vertices, faces), [1, 3])
    n = 20_000
    points = sample_surface(vertices, faces, n, np.random.default_rng(0))
    on_big = int((points[:, 2] == 1).sum())
    # binomial(n, 3/4): mean 15,000, standard deviation sqrt(n p (1 - p)) = 61; allow 5 standard deviations
    assert abs(on_big - 0.75 * n) <= 5 * np.sqrt(n * 0.75 * 0.25)
    assert on_big + int((points[:, 2] == 0).sum()) == n


def test_off_mesh_sampler_points_lie_on_the_surface_uniformly():
    vertices, faces = TWO_TRIANGLES
    points = sample_surface(vertices, faces, 20_000, np.random.default_rng(1))
    small, big = points[points[:, 2] == 0], points[points[:, 2] == 1]
    # inside the triangles: x, y >= 0 and below the hypotenuse (x / a + y / 2 <= 1 with a = 1 or 3)
    assert (small[:, :2] >= 0).all() and (small[:, 0] + small[:, 1] / 2 <= 1 + 1e-12).all()
    assert (big[:, :2] >= 0).all() and (big[:, 0] / 3 + big[:, 1] / 2 <= 1 + 1e-12).all()
    # uniform inside a triangle: the mean is the centroid (standard error about 0.01 here)
    np.testing.assert_allclose(big[:, :2].mean(axis=0), [1, 2 / 3], atol=0.05)
    # half the area lies where x / 3 + y / 2 <= 1 / sqrt(2) (a similar triangle scaled by 1 / sqrt(2))
    frac = (big[:, 0] / 3 + big[:, 1] / 2 <= 1 / np.sqrt(2)).mean()
    assert abs(frac - 0.5) < 0.03


def test_off_mesh_sampler_is_seeded_and_rejects_a_flat_mesh():
    vertices, faces = TWO_TRIANGLES
    a = sample_surface(vertices, faces, 50, np.random.default_rng(3))
    b = sample_surface(vertices, faces, 50, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="no surface to sample"):
        sample_surface(np.zeros((3, 3)), np.array([[0, 1, 2]]), 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="num_points must be >= 1"):
        sample_surface(vertices, faces, 0, np.random.default_rng(0))


def test_off_mesh_normalized_to_the_unit_sphere():
    points = np.random.default_rng(0).normal(5, 3, size=(500, 3))
    out = normalize_unit_sphere(points)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    assert np.linalg.norm(out, axis=1).max() == pytest.approx(1.0)
