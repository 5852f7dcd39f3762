"""The body prior (selfpose3d_core.body_prior): fitted in a body frame, conditioned on a
person's known joints, fused with the 2D views of the unknown ones; and its use in the
detections-mode refinement."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import ring_rig

from selfpose3d_core.body_prior import (
    MIN_KNOWN_JOINTS,
    BodyPrior,
    complete_joints,
    condition,
    fit_body_prior,
    map_joints,
    sharpen_joints,
)
from selfpose3d_core.geometry import stack_cameras
from selfpose3d_core.models import model_preset
from selfpose3d_core.person_heatmaps import assign_detections
from selfpose3d_core.refine import refine_with_detections
from selfpose3d_core.skeleton import PANOPTIC15
from selfpose3d_core.synthetic.body import (
    ACTIVITIES,
    forward_kinematics,
    sample_activity_pose,
    sample_shape,
)

J = 15
idx = PANOPTIC15.index


def _bodies(n: int, seed: int) -> np.ndarray:
    """(n, 15, 3) Panoptic-15 skeletons of random people, postures, places and headings."""
    rng = np.random.default_rng(seed)
    shapes = np.stack([np.asarray(sample_shape(rng)) for _ in range(n)])
    angles = np.stack([sample_activity_pose(rng, ACTIVITIES[i % len(ACTIVITIES)])
                       for i in range(n)])
    body = forward_kinematics(shapes, angles, rng.uniform(-2, 2, (n, 2)),
                              rng.uniform(-np.pi, np.pi, n))
    return body.points[:, :J]


@pytest.fixture(scope="module")
def prior() -> BodyPrior:
    return fit_body_prior(_bodies(400, seed=0))


def _yaw(x: np.ndarray, angle: float, shift) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = x.copy()
    out[..., :2] = x[..., :2] @ np.array([[c, -s], [s, c]]).T + np.asarray(shift)
    return out


def test_fit_is_in_the_body_frame(prior):
    assert prior.mean.shape == (J, 3) and prior.cov.shape == (3 * J, 3 * J)
    assert prior.count == 400
    np.testing.assert_allclose(prior.cov, prior.cov.T)
    hips = 0.5 * (prior.mean[idx("l_hip")] + prior.mean[idx("r_hip")])
    np.testing.assert_allclose(hips[:2], 0.0, atol=1e-9)
    assert 0.6 < hips[2] < 1.2  # heights are kept: the floor is at 0
    assert prior.mean[idx("l_ankle"), 2] < 0.2 and prior.mean[idx("nose"), 2] > 1.3
    assert prior.mean[idx("l_hip"), 0] > 0 > prior.mean[idx("r_hip"), 0]  # left towards +x
    # the same people turned and moved give the same prior
    moved = _yaw(_bodies(400, seed=0), 1.1, [3.0, -2.0])
    again = fit_body_prior(moved)
    np.testing.assert_allclose(again.mean, prior.mean, atol=1e-6)
    np.testing.assert_allclose(again.cov, prior.cov, atol=1e-6)
    back = BodyPrior.from_payload(prior.to_payload())
    np.testing.assert_array_equal(back.mean, prior.mean)
    np.testing.assert_array_equal(back.cov, prior.cov)
    with pytest.raises(ValueError, match="N ≥ 2, 15, 3"):
        fit_body_prior(np.zeros((1, J, 3)))
    with pytest.raises(ValueError, match="mean"):
        BodyPrior.from_payload({"mean": np.zeros((J, 3)), "cov": np.eye(3), "count": 1})


def test_condition_matches_the_gaussian_formula_per_person(prior):
    people = _bodies(6, seed=1)
    rng = np.random.default_rng(2)
    known = rng.random((6, J)) > 0.35
    known[:, :MIN_KNOWN_JOINTS] = True
    mean, cov = condition(prior, people, known, reg=0.03)
    np.testing.assert_array_equal(mean[known], people[known])
    assert np.all(cov[known] == 0)
    C = prior.cov + 0.03 ** 2 * np.eye(3 * J)
    for n in range(6):  # reference: the textbook formula on one person's own split
        R, t = _align_reference(people[n], prior.mean, known[n])
        y = people[n].copy()
        y[:, :2] = y[:, :2] @ R.T + t
        o = np.repeat(known[n], 3)
        mu = prior.mean.reshape(-1)
        K = C[np.ix_(~o, o)] @ np.linalg.inv(C[np.ix_(o, o)])
        m_u = mu[~o] + K @ (y.reshape(-1)[o] - mu[o])
        S_u = C[np.ix_(~o, ~o)] - K @ C[np.ix_(o, ~o)]
        body = y.copy()
        body[~known[n]] = m_u.reshape(-1, 3)
        world = body.copy()
        world[:, :2] = (body[:, :2] - t) @ R  # Rᵀ (y − t)
        np.testing.assert_allclose(mean[n], world, atol=1e-9)
        R3 = np.eye(3)
        R3[:2, :2] = R.T
        for a, j in enumerate(np.nonzero(~known[n])[0]):
            block = S_u[3 * a:3 * a + 3, 3 * a:3 * a + 3]
            np.testing.assert_allclose(cov[n, j], R3 @ block @ R3.T, atol=1e-12)


def _align_reference(x, ref, mask):
    """Yaw + shift taking x's masked joints onto ref's (2D Kabsch by SVD)."""
    a, b = x[mask, :2], ref[mask, :2]
    ca, cb = a.mean(0), b.mean(0)
    U, _, Vt = np.linalg.svd((a - ca).T @ (b - cb))
    R = Vt.T @ np.diag([1.0, np.linalg.det(Vt.T @ U.T)]) @ U.T
    return R, cb - R @ ca


def test_condition_places_hidden_joints_and_follows_the_person(prior):
    people = _bodies(200, seed=3)
    known = np.ones((200, J), bool)
    hidden = [idx("l_knee"), idx("l_ankle"), idx("r_wrist"), idx("nose")]
    known[:, hidden] = False
    mean, _ = condition(prior, people, known, reg=0.03)
    err = np.linalg.norm(mean[:, hidden] - people[:, hidden], axis=-1)
    # against the prior's mean skeleton placed at the person's hips with the true heading
    marginal = np.linalg.norm(condition(prior, people, np.isin(np.arange(J), [
        idx("l_hip"), idx("r_hip"), idx("l_shoulder"), idx("r_shoulder")])[None].repeat(200, 0),
        reg=0.03)[0][:, hidden] - people[:, hidden], axis=-1)
    assert err.mean() < 0.1 and err.mean() < 0.7 * marginal.mean(), (err.mean(),
                                                                      marginal.mean())
    turned, _ = condition(prior, _yaw(people, -2.0, [1.0, 0.5]), known, reg=0.03)
    np.testing.assert_allclose(turned, _yaw(mean, -2.0, [1.0, 0.5]), atol=1e-9)
    with pytest.raises(ValueError, match="joints"):
        condition(prior, people[:, :14], known[:, :14], reg=0.03)


def test_map_joints_takes_the_ray_from_a_view_and_the_depth_from_the_prior():
    cams = ring_rig(4, distortion=True)
    rng = np.random.default_rng(4)
    truth = rng.uniform([-0.5, -0.5, 0.5], [0.5, 0.5, 1.5], (5, 3))
    uv = np.stack([c.project(truth) for c in cams])  # (V, 5, 2)
    cov = np.tile(0.1 ** 2 * np.eye(3), (5, 1, 1))
    prior_mean = truth + rng.normal(0, 0.1, truth.shape)
    # no view: the prior's mean
    none = map_joints(prior_mean, cov, uv, np.zeros((4, 5)), cams, 4.0)
    np.testing.assert_allclose(none, prior_mean, atol=1e-12)
    # two exact confident views under a weak prior (1 m): the truth
    w = np.zeros((4, 5))
    w[:2] = 0.9
    two = map_joints(prior_mean, cov * 100, uv, w, cams, 4.0)
    assert np.linalg.norm(two - truth, axis=-1).max() < 0.002
    # a 10 cm prior pulls a little; the default iterations have converged
    pulled = map_joints(prior_mean, cov, uv, w, cams, 4.0)
    np.testing.assert_allclose(pulled, map_joints(prior_mean, cov, uv, w, cams, 4.0, 50),
                               atol=1e-6)
    assert 0.002 < np.linalg.norm(pulled - truth, axis=-1).max() < 0.03
    # one view: (nearly) on its ray, and nearer the truth than the prior's mean
    w1 = np.zeros((4, 5))
    w1[0] = 0.9
    one = map_joints(prior_mean, cov, uv, w1, cams, 4.0)
    px_one = np.linalg.norm(cams[0].project(one) - uv[0], axis=-1)
    px_mean = np.linalg.norm(cams[0].project(prior_mean) - uv[0], axis=-1)
    assert np.all(px_one < 0.2 * px_mean) and px_one.max() < 3.0, (px_one, px_mean)
    assert (np.linalg.norm(one - truth, axis=-1).mean()
            < np.linalg.norm(prior_mean - truth, axis=-1).mean())
    with pytest.raises(ValueError, match="map_joints"):
        map_joints(prior_mean, cov, uv[:3], w, cams, 4.0)


def test_complete_joints_only_for_people_with_enough_known_joints(prior):
    cams = ring_rig(4, distortion=False)
    people = _bodies(3, seed=5)
    known = np.ones((3, J), bool)
    known[0, [idx("l_ankle"), idx("l_knee")]] = False  # placed by the prior
    known[1, MIN_KNOWN_JOINTS - 1:] = False  # too few known: left as given
    uv = np.stack([c.project(people.reshape(-1, 3)).reshape(3, J, 2) for c in cams])
    w = np.zeros((4, 3, J))
    w[0] = 0.9  # one confident view of everything
    given = people + 0.3
    out, placed = complete_joints(prior, np.where(known[..., None], people, given), known,
                                  uv, w, cams, 4.0, 0.03)
    assert placed.sum() == 2 and placed[0, idx("l_ankle")] and placed[0, idx("l_knee")]
    np.testing.assert_array_equal(out[1:], np.where(known[1:, :, None], people[1:],
                                                    given[1:]))
    err = np.linalg.norm(out[0, ~known[0]] - people[0, ~known[0]], axis=-1)
    assert err.max() < 0.05, err
    with pytest.raises(ValueError, match="complete_joints"):
        complete_joints(prior, people, known, uv[:, :2], w, cams, 4.0, 0.03)


def test_refinement_places_a_hidden_knee_with_the_prior(prior):
    cams = ring_rig(4, distortion=True)
    ct = stack_cameras(cams)
    people = _bodies(6, seed=6)[[0, 4]]  # two standing people ...
    people[1, :, 0] += 1.5 - people[1, 2, 0] + people[0, 2, 0]  # ... 1.5 m apart
    uv = np.stack([c.project(people.reshape(-1, 3)).reshape(2, J, 2) for c in cams])
    conf = np.full(uv.shape[:-1], 0.9)
    knee = idx("l_knee")
    conf[1:, 0, knee] = 0.05  # person 0's knee: confident in view 0 only ...
    uv[1:, 0, knee] += [[90.0, -60.0], [-70.0, 80.0], [60.0, 90.0]]  # ... guesses far off
    uv_t = torch.tensor(uv[None], dtype=torch.float32)
    conf_t = torch.tensor(conf[None], dtype=torch.float32)
    centers = torch.tensor(people[None, :, 2], dtype=torch.float32)
    sel = assign_detections(centers, uv_t, conf_t, ct, root_joint=2, min_conf=0.2, gate=0.3)
    off = torch.tensor(people[None], dtype=torch.float32)
    off[0, 0, knee] += torch.tensor([0.0, 0.25, 0.0])  # pose_net's knee 25 cm off
    fill = refine_with_detections(off, sel, uv_t, conf_t, ct, cams, 0.2, 0.2, fill=True)
    both = refine_with_detections(off, sel, uv_t, conf_t, ct, cams, 0.2, 0.2, fill=True,
                                  prior=prior)
    e_fill = np.linalg.norm(fill[0, 0, knee] - people[0, knee])
    e_prior = np.linalg.norm(both[0, 0, knee] - people[0, knee])
    assert e_prior < 0.06 and e_prior < 0.5 * e_fill, (e_prior, e_fill)
    # every other joint is the refinement's as before
    rest = np.ones((2, J), bool)
    rest[0, knee] = False
    np.testing.assert_allclose(both[0][rest], fill[0][rest], atol=1e-6)
    cfg = model_preset("small")
    assert cfg.refine_prior is True and cfg.refine_prior_sigma_px > 0
    with pytest.raises(ValueError, match="refine_prior_sigma_px"):
        dataclasses.replace(cfg, refine_prior_sigma_px=0.0)
    with pytest.raises(ValueError, match="refine_prior_two_view_sigma_px"):
        dataclasses.replace(cfg, refine_prior_two_view_sigma_px=-1.0)
    assert dataclasses.replace(cfg, refine_prior_two_view_sigma_px=None) is not None
    with pytest.raises(ValueError, match="refine_prior"):
        dataclasses.replace(cfg, refine_prior="yes")


def test_sharpen_joints_fixes_the_depth_of_a_two_view_joint(prior):
    cams = ring_rig(4, distortion=False)
    people = _bodies(2, seed=7)
    wrist = idx("r_wrist")
    uv = np.stack([c.project(people.reshape(-1, 3)).reshape(2, J, 2) for c in cams])
    w = np.zeros((4, 2, J))
    w[:2] = 0.9  # two views of every joint
    ray = people[0, wrist] - cams[0].center  # the joint pushed 15 cm along view 0's ray
    moved = people.copy()
    moved[0, wrist] += 0.15 * ray / np.linalg.norm(ray)
    known = np.ones((2, J), bool)
    which = np.zeros((2, J), bool)
    which[0, wrist] = True
    out = sharpen_joints(prior, moved, known, which, uv, w, cams, 2.0, 0.03)
    assert np.linalg.norm(out[0, wrist] - people[0, wrist]) < 0.03
    np.testing.assert_array_equal(np.delete(out.reshape(-1, 3), wrist, 0),
                                  np.delete(moved.reshape(-1, 3), wrist, 0))
    few = np.zeros((2, J), bool)
    few[0, :MIN_KNOWN_JOINTS - 1] = True  # the wrist plus too few others: left as it is
    few[0, wrist] = True
    np.testing.assert_array_equal(
        sharpen_joints(prior, moved, few, which, uv, w, cams, 2.0, 0.03), moved)
    with pytest.raises(ValueError, match="sharpen_joints"):
        sharpen_joints(prior, moved, known, which[:1], uv, w, cams, 2.0, 0.03)
