"""Our rig YAML format."""

import numpy as np
import pytest
from helpers import ring_rig

from selfpose3d_core.geometry import load_rig_yaml, save_rig_yaml


def test_round_trip(tmp_path):
    cams = ring_rig(4)
    save_rig_yaml(tmp_path / "rig.yaml", cams, world_frame="or_room")
    rig = load_rig_yaml(tmp_path / "rig.yaml")
    assert rig.world_frame == "or_room" and rig.names == ("cam0", "cam1", "cam2", "cam3")
    for a, b in zip(cams, rig.cameras):
        np.testing.assert_allclose(a.K, b.K)
        np.testing.assert_allclose(a.R, b.R, atol=1e-11)
        np.testing.assert_allclose(a.t, b.t, atol=1e-9)
        np.testing.assert_allclose(a.dist, b.dist)
        assert (a.width, a.height) == (b.width, b.height)


def test_centre_instead_of_t(tmp_path):
    (tmp_path / "r.yaml").write_text(
        "cameras:\n- {name: a, width: 640, height: 480, K: [[500,0,320],[0,500,240],[0,0,1]],\n"
        "   R: [[1,0,0],[0,-1,0],[0,0,-1]], centre: [1, 2, 3]}\n")
    cam = load_rig_yaml(tmp_path / "r.yaml").cameras[0]
    np.testing.assert_allclose(cam.center, [1, 2, 3])


@pytest.mark.parametrize("text,match", [
    ("cameras: []\n", "non-empty"),
    ("cameras:\n- {width: 1, height: 1, K: [[1,0,0],[0,1,0],[0,0,1]], R: [[1,0,0],[0,1,0],"
     "[0,0,1]], t: [0,0,0], focal: 3}\n", "unknown keys"),
    ("cameras:\n- {width: 1, height: 1, K: [[1,0,0],[0,1,0],[0,0,1]], R: [[1,0,0],[0,1,0],"
     "[0,0,1]]}\n", "exactly one of"),
    ("bogus: 1\ncameras: []\n", "unknown keys"),
    ("cameras:\n- {width: 1, height: 1, K: [[1,0,0],[0,1,0],[0,0,1]], R: [[2,0,0],[0,1,0],"
     "[0,0,1]], t: [0, 0, 0]}\n", "rotation"),
])
def test_rejects_malformed(tmp_path, text, match):
    (tmp_path / "r.yaml").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_rig_yaml(tmp_path / "r.yaml")
