"""People moving through the operating room: who is there, where, doing what, in which pose.

A small behaviour model, simulated at ≤ 0.05 s steps:

* ``num_people`` *places*; a place is occupied by one person at a time. A person enters
  through the door, walks (visibility-graph path around the furniture, social-force
  avoidance of the others) to a free work spot, works there (stand, bend over the table,
  reach, crouch; 2.5–7 s each), moves on to other spots, and after ``stay_s`` walks out;
  the place is refilled by a new person (new id) ``absent_s`` later.
* The pose is a spring-damped blend towards the activity's target angles, mixed with a
  gait cycle by walking speed, plus slow per-person sway; so motion is smooth.

:func:`simulate_people` returns the joint angles and root trajectory per frame; poses are
made by :func:`selfpose3d_core.synthetic.body.forward_kinematics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .body import (
    ACTIVITIES,
    NUM_ANGLES,
    A,
    Appearance,
    Body,
    BodyShape,
    clip_angles,
    empty_body,
    forward_kinematics,
    gait_pose,
    neutral_pose,
    sample_activity_pose,
    sample_appearance,
    sample_shape,
    solve_arm_ik,
)
from .config import SynthConfig
from .room import Room, Spot

__all__ = ["PersonInfo", "PeopleFrame", "Motion", "simulate_people", "pose_frame"]

_DT_MAX = 0.05
_BODY_R = 0.3         # body radius for collisions with furniture (m)
_PATH_CLEAR = 0.4     # clearance of path segments from furniture (m)
_CORNER_CLEAR = 0.56  # clearance of path corner points (m)
_WALL_CLEAR = 0.28
_ACTIVITY_P = {"table": {"bend": 0.45, "stand": 0.3, "reach": 0.25},
               "trolley": {"reach": 0.4, "stand": 0.3, "crouch": 0.3},
               "machine": {"reach": 0.35, "stand": 0.4, "crouch": 0.25},
               "free": {"stand": 0.6, "crouch": 0.2, "reach": 0.2}}
_SWAY_AMP = np.zeros(NUM_ANGLES)
for _k, _v in (("trunk_flex", 2.0), ("trunk_lat", 1.5), ("trunk_twist", 3.0),
               ("head_yaw", 12.0), ("head_pitch", 5.0), ("l_sh_elev", 3.0),
               ("r_sh_elev", 3.0), ("l_sh_plane", 4.0), ("r_sh_plane", 4.0),
               ("l_elbow", 4.0), ("r_elbow", 4.0), ("l_hip_flex", 1.0), ("r_hip_flex", 1.0),
               ("l_knee", 1.5), ("r_knee", 1.5), ("pelvis_yaw", 1.5), ("root_fwd", 0.008)):
    _SWAY_AMP[A[_k]] = _v
_LEG_ANGLES = np.array([A[k] for k in ("l_hip_flex", "l_hip_abd", "l_knee", "r_hip_flex",
                                       "r_hip_abd", "r_knee", "pelvis_yaw")])


class PersonInfo(NamedTuple):
    """A person of the sequence.

    Fields:
        pid: persistent id (0, 1, 2, ... in order of appearance).
        shape: body dimensions.
        appearance: clothing and skin colours.
        first_frame, last_frame: frames (inclusive) the person is in the room.
    """

    pid: int
    shape: BodyShape
    appearance: Appearance
    first_frame: int
    last_frame: int


class PeopleFrame(NamedTuple):
    """The people of one frame (P present), sorted by id.

    Fields:
        ids: (P,) int64 person ids.
        shapes: (P, S) body shape vectors.
        angles: (P, NUM_ANGLES) joint angles.
        root_xy: (P, 2) pelvis position on the floor (m).
        heading: (P,) facing direction (rad).
        activity: (P,) what each does (``"walk"`` or one of the activities).
    """

    ids: np.ndarray
    shapes: np.ndarray
    angles: np.ndarray
    root_xy: np.ndarray
    heading: np.ndarray
    activity: tuple[str, ...]

    @property
    def num_people(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class Motion:
    """A simulated sequence: the people and their per-frame state."""

    people: tuple[PersonInfo, ...]
    frames: tuple[PeopleFrame, ...]

    def person(self, pid: int) -> PersonInfo:
        for p in self.people:
            if p.pid == pid:
                return p
        raise ValueError(f"no person with id {pid}; ids {[p.pid for p in self.people]}")


def pose_frame(frame: PeopleFrame) -> Body:
    """Forward kinematics of every person of a frame → :class:`Body` (P bodies)."""
    if frame.num_people == 0:
        return empty_body()
    return forward_kinematics(frame.shapes, frame.angles, frame.root_xy, frame.heading)


# --------------------------------------------------------------------------- navigation
def _seg_hits_rect(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> bool:
    """Does segment p→q cross rectangle r = (x0, y0, x1, y1)? (Liang–Barsky)"""
    d = q - p
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-d[0], p[0] - r[0]), (d[0], r[2] - p[0]), (-d[1], p[1] - r[1]),
                   (d[1], r[3] - p[1])):
        if abs(pk) < 1e-12:
            if qk < 0:
                return False
        else:
            t = qk / pk
            if pk < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _inside(p: np.ndarray, r: np.ndarray) -> bool:
    return bool(r[0] <= p[0] <= r[2] and r[1] <= p[1] <= r[3])


def _plan_path(start: np.ndarray, goal: np.ndarray, room: Room) -> list[np.ndarray]:
    """Shortest path start → goal around the furniture (visibility graph over corners)."""
    rects = room.obstacles + np.array([-1, -1, 1, 1]) * _PATH_CLEAR
    hx, hy = room.half
    nodes = [start, goal]
    for r in room.obstacles:
        for x in (r[0] - _CORNER_CLEAR, r[2] + _CORNER_CLEAR):
            for y in (r[1] - _CORNER_CLEAR, r[3] + _CORNER_CLEAR):
                c = np.array([x, y])
                if (abs(x) < hx - _WALL_CLEAR and abs(y) < hy - _WALL_CLEAR
                        and not any(_inside(c, rr) for rr in rects)):
                    nodes.append(c)
    n = len(nodes)

    def free(i: int, j: int) -> bool:
        for r in rects:
            if (i == 0 or j == 0) and _inside(start, r):
                continue
            if (i == 1 or j == 1) and _inside(goal, r):
                continue
            if _seg_hits_rect(nodes[i], nodes[j], r):
                return False
        return True

    dist = np.full(n, np.inf)
    prev = np.full(n, -1)
    dist[0] = 0.0
    done = np.zeros(n, bool)
    for _ in range(n):
        i = int(np.argmin(np.where(done, np.inf, dist)))
        if not np.isfinite(dist[i]) or i == 1:
            break
        done[i] = True
        for j in range(n):
            if not done[j] and j != i and free(i, j):
                d = dist[i] + float(np.linalg.norm(nodes[i] - nodes[j]))
                if d < dist[j]:
                    dist[j], prev[j] = d, i
    if not np.isfinite(dist[1]):
        return [goal]
    path, k = [], 1
    while k > 0:
        path.append(nodes[k])
        k = int(prev[k])
    return path[::-1]


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


# --------------------------------------------------------------------------- agents
@dataclass
class _Agent:
    pid: int
    slot: int
    shape: BodyShape
    pos: np.ndarray
    heading: float
    leave_at: float
    speed_pref: float
    sway_f: np.ndarray
    sway_p: np.ndarray
    vel: np.ndarray = field(default_factory=lambda: np.zeros(2))
    phase: float = 0.0
    mode: str = "walk"            # walk | work | leave
    path: list = field(default_factory=list)
    spot: Spot | None = None
    activity: str = "stand"
    until: float = 0.0
    heading_target: float = 0.0
    pose: np.ndarray = field(default_factory=neutral_pose)
    pose_vel: np.ndarray = field(default_factory=lambda: np.zeros(NUM_ANGLES))
    target: np.ndarray = field(default_factory=neutral_pose)
    walk_time: float = 0.0


class _Crowd:
    def __init__(self, config: SynthConfig, room: Room, rng: np.random.Generator):
        self.cfg, self.room, self.rng = config, room, rng
        self.agents: list[_Agent] = []
        self.next_enter = np.full(config.num_people, np.inf)
        self.next_pid = 0
        self.infos: dict[int, list] = {}
        self.free_spots = self._free_spots()

    # ------------------------------------------------------------------ setup
    def _free_spots(self) -> list[Spot]:
        hx, hy = self.room.half
        out: list[Spot] = []
        rects = self.room.obstacles + np.array([-1, -1, 1, 1]) * 0.7
        for _ in range(200):
            if len(out) >= 6:
                break
            p = self.rng.uniform([-hx + 0.7, -hy + 0.7], [hx - 0.7, hy - 0.7])
            if any(_inside(p, r) for r in rects) or np.hypot(*(p - self.room.door_entry)) < 1.6:
                continue
            if any(np.hypot(*(p - np.array(s.xy))) < 0.9 for s in self.room.spots + tuple(out)):
                continue
            h = math.atan2(-p[1], -p[0]) + self.rng.uniform(-0.7, 0.7)
            out.append(Spot((float(p[0]), float(p[1])), h, "free"))
        return out

    def _new_agent(self, slot: int, pos: np.ndarray, heading: float, t: float) -> _Agent:
        rng = self.rng
        shape = sample_shape(rng, self.cfg.person_height)
        stay = rng.uniform(*self.cfg.stay_s) if self.cfg.enter_leave else np.inf
        ag = _Agent(pid=self.next_pid, slot=slot, shape=shape, pos=pos.astype(float).copy(),
                    heading=heading, leave_at=t + stay, speed_pref=rng.uniform(0.75, 1.2),
                    sway_f=rng.uniform(0.06, 0.3, (2, NUM_ANGLES)),
                    sway_p=rng.uniform(0, 2 * np.pi, (2, NUM_ANGLES)))
        ag.heading_target = heading
        self.infos[ag.pid] = [ag.pid, shape, sample_appearance(rng), None, None]
        self.next_pid += 1
        self.agents.append(ag)
        return ag

    def initialise(self) -> None:
        cfg, rng = self.cfg, self.rng
        occupied = [not cfg.enter_leave or rng.random() < cfg.initial_presence
                    for _ in range(cfg.num_people)]
        if not any(occupied):
            occupied[0] = True
        for slot, occ in enumerate(occupied):
            if not occ:
                self.next_enter[slot] = rng.uniform(0.0, cfg.absent_s[1] + 1.0)
                continue
            spot = self._choose_spot(None)
            if spot is not None and rng.random() < 0.6:
                # already at work
                pos = np.array(spot.xy) if spot is not None else self.room.door_entry
                ag = self._new_agent(slot, pos, spot.heading if spot else 0.0, 0.0)
                if cfg.enter_leave:
                    ag.leave_at = rng.uniform(0.3, 1.0) * rng.uniform(*cfg.stay_s)
                ag.spot = spot
                self._start_activity(ag, 0.0)
                ag.until = rng.uniform(0.5, 6.0)
            else:
                p = np.array(self.free_spots[int(rng.integers(len(self.free_spots)))].xy
                             if self.free_spots else self.room.door_entry)
                ag = self._new_agent(slot, p + rng.normal(0, 0.1, 2), rng.uniform(-3, 3), 0.0)
                if cfg.enter_leave:
                    ag.leave_at = rng.uniform(0.3, 1.0) * rng.uniform(*cfg.stay_s)
                self._go_to(ag, spot)
            ag.pose = ag.target.copy()

    # ------------------------------------------------------------------ behaviour
    def _choose_spot(self, me: _Agent | None) -> Spot | None:
        cands, weights = [], []
        taken = [a.spot for a in self.agents if a is not me and a.spot is not None]
        others = [a.pos for a in self.agents if a is not me]
        for s in self.room.spots + tuple(self.free_spots):
            xy = np.array(s.xy)
            if me is not None and me.spot is not None and s == me.spot:
                continue
            if any(np.hypot(*(xy - np.array(t.xy))) < 0.9 for t in taken):
                continue
            if any(np.hypot(*(xy - o)) < 0.7 for o in others):
                continue
            cands.append(s)
            weights.append({"table": 3.0, "free": 1.0}.get(s.kind, 1.5))
        if not cands:
            return None
        w = np.asarray(weights) / np.sum(weights)
        return cands[int(self.rng.choice(len(cands), p=w))]

    def _go_to(self, ag: _Agent, spot: Spot | None) -> None:
        if spot is None:  # nowhere free: wander to a random free point
            if self.free_spots:
                s = self.free_spots[int(self.rng.integers(len(self.free_spots)))]
                spot = Spot(s.xy, s.heading, "free")
            else:
                spot = Spot(tuple(self.room.door_entry), -np.pi / 2, "free")
        ag.spot = spot
        ag.mode = "walk"
        ag.walk_time = 0.0
        ag.path = _plan_path(ag.pos, np.array(spot.xy), self.room)
        ag.target = neutral_pose()
        ag.activity = "walk"

    def _start_activity(self, ag: _Agent, t: float) -> None:
        rng, room = self.rng, self.room
        spot = ag.spot
        probs = _ACTIVITY_P[spot.kind]
        names = list(probs)
        act = names[int(rng.choice(len(names), p=np.array(list(probs.values()))))]
        assert act in ACTIVITIES
        target = sample_activity_pose(rng, act)
        heading = spot.heading + rng.uniform(-0.2, 0.2)
        ag.heading_target = heading
        if spot.kind == "table" and act in ("bend", "reach"):
            body = forward_kinematics(np.asarray(ag.shape)[None], target[None],
                                      np.asarray(spot.xy)[None], np.array([heading]))
            f = np.array([math.cos(heading), math.sin(heading)])
            left = np.array([-f[1], f[0]])
            lo, hi = np.array(room.table.lo), np.array(room.table.hi)
            raised = "l" if target[A["l_sh_elev"]] >= target[A["r_sh_elev"]] else "r"
            sides = ("l", "r") if act == "bend" else (raised,)
            for side in sides:
                s = 1.0 if side == "l" else -1.0
                if act == "bend":
                    xy = (np.asarray(spot.xy) + f * rng.uniform(0.55, 0.85)
                          + left * s * rng.uniform(0.05, 0.3))
                    xy = np.clip(xy, lo[:2] + 0.05, hi[:2] - 0.05)
                    goal = np.array([xy[0], xy[1], hi[2] + rng.uniform(0.08, 0.15)])
                elif rng.random() < 0.5 and np.hypot(*(np.asarray(spot.xy)
                                                       - room.lamp_centre[:2])) < 1.3:
                    goal = np.asarray(room.lamp_centre) - np.array([0, 0, 0.12])
                else:
                    xy = (np.asarray(spot.xy) + f * rng.uniform(0.6, 0.9)
                          + left * s * rng.uniform(0.0, 0.3))
                    goal = np.array([xy[0], xy[1], hi[2] + rng.uniform(0.15, 0.6)])
                e, p, b = solve_arm_ik(ag.shape, body, 0, side, goal)
                target[A[side + "_sh_elev"]] = e
                target[A[side + "_sh_plane"]] = p
                target[A[side + "_elbow"]] = b
        ag.target = clip_angles(target)
        ag.activity = act
        ag.mode = "work"
        ag.until = t + rng.uniform(2.5, 7.0)

    def _spawn(self, t: float) -> None:
        entry = self.room.door_entry
        for slot in range(self.cfg.num_people):
            if self.next_enter[slot] > t:
                continue
            if any(np.hypot(*(a.pos - entry)) < 0.9 for a in self.agents):
                continue
            self.next_enter[slot] = np.inf
            pos = entry + np.array([self.rng.uniform(-0.25, 0.25), 0.0])
            ag = self._new_agent(slot, pos, -np.pi / 2, t)
            self._go_to(ag, self._choose_spot(ag))

    def _decide(self, ag: _Agent, t: float) -> bool:
        """Behaviour transitions; False when the agent has left the room."""
        if ag.mode == "work" and t >= ag.until:
            if t >= ag.leave_at:
                ag.mode, ag.spot = "leave", None
                ag.path = _plan_path(ag.pos, self.room.door_entry, self.room)
                ag.target, ag.activity = neutral_pose(), "walk"
                ag.walk_time = 0.0
            elif self.rng.random() < 0.5:
                self._start_activity(ag, t)
            else:
                self._go_to(ag, self._choose_spot(ag))
        if ag.mode in ("walk", "leave"):
            while len(ag.path) > 1 and np.hypot(*(ag.path[0] - ag.pos)) < 0.3:
                ag.path.pop(0)
            if ag.path and np.hypot(*(ag.path[-1] - ag.pos)) < (0.3 if ag.mode == "leave"
                                                                 else 0.06):
                ag.path = []
            if not ag.path:
                if ag.mode == "leave":
                    self.next_enter[ag.slot] = t + self.rng.uniform(*self.cfg.absent_s)
                    return False
                self._start_activity(ag, t)
            elif ag.walk_time > 12.0:  # stuck: try elsewhere
                self._go_to(ag, self._choose_spot(ag))
        return True

    # ------------------------------------------------------------------ physics
    def step(self, t: float, dt: float) -> None:
        if self.cfg.enter_leave:
            self._spawn(t)
        self.agents = [a for a in self.agents if self._decide(a, t)]
        positions = np.array([a.pos for a in self.agents]).reshape(-1, 2)
        for i, ag in enumerate(self.agents):
            if ag.mode == "work":
                desired = np.clip((np.array(ag.spot.xy) - ag.pos) * 2.0, -0.3, 0.3)
            else:
                ag.walk_time += dt
                d = ag.path[0] - ag.pos
                dist = float(np.hypot(*d))
                speed = ag.speed_pref
                if len(ag.path) == 1:
                    speed = min(speed, 1.2 * dist + 0.05)
                desired = d / max(dist, 1e-6) * speed
                for j, q in enumerate(positions):
                    if j == i:
                        continue
                    r = ag.pos - q
                    dq = float(np.hypot(*r)) + 1e-6
                    if dq > 1.5:
                        continue
                    n = r / dq
                    push = 1.6 * math.exp((0.55 - dq) / 0.25)
                    ahead = float(np.dot(desired, -n)) > 0
                    tangent = np.array([desired[1], -desired[0]]) / max(speed, 1e-6)
                    desired = desired + push * n + (0.6 * push * tangent if ahead else 0.0)
                sp = float(np.hypot(*desired))
                if sp > 1.3 * ag.speed_pref:
                    desired *= 1.3 * ag.speed_pref / sp
            dv = desired - ag.vel
            dv_n = float(np.hypot(*dv))
            if dv_n > 2.0 * dt:
                dv *= 2.0 * dt / dv_n
            ag.vel = ag.vel + dv
            ag.pos = ag.pos + ag.vel * dt
            self._constrain(ag)
            speed = float(np.hypot(*ag.vel))
            if ag.mode != "work" and speed > 0.15:
                ag.heading_target = math.atan2(ag.vel[1], ag.vel[0])
            dh = _wrap(ag.heading_target - ag.heading)
            ag.heading = _wrap(ag.heading + float(np.clip(dh * (1 - math.exp(-dt / 0.2)),
                                                          -3.5 * dt, 3.5 * dt)))
            stride = 1.35 * ag.shape.height / 1.75 * max(0.4, min(speed, 1.3)) ** 0.5
            ag.phase = (ag.phase + speed * dt / stride) % 1.0
            w = 2 * math.pi * 0.75
            acc = w * w * (ag.target - ag.pose) - 2 * w * ag.pose_vel
            ag.pose_vel = ag.pose_vel + acc * dt
            ag.pose = ag.pose + ag.pose_vel * dt
        # keep people apart
        for i, a in enumerate(self.agents):
            for b in self.agents[i + 1:]:
                r = a.pos - b.pos
                d = float(np.hypot(*r))
                if d < 0.5:
                    n = r / max(d, 1e-6) if d > 1e-6 else np.array([1.0, 0.0])
                    wa = 0.5 if (a.mode == "work") == (b.mode == "work") else (
                        0.0 if a.mode == "work" else 1.0)
                    a.pos = a.pos + n * (0.5 - d) * wa
                    b.pos = b.pos - n * (0.5 - d) * (1.0 - wa)
                    self._constrain(a)
                    self._constrain(b)

    def _constrain(self, ag: _Agent) -> None:
        hx, hy = self.room.half
        ag.pos = np.clip(ag.pos, [-hx + _WALL_CLEAR, -hy + _WALL_CLEAR],
                         [hx - _WALL_CLEAR, hy - _WALL_CLEAR])
        for r in self.room.obstacles:
            x0, y0, x1, y1 = r[0] - _BODY_R, r[1] - _BODY_R, r[2] + _BODY_R, r[3] + _BODY_R
            x, y = ag.pos
            if x0 < x < x1 and y0 < y < y1:
                moves = [(x0 - x, 0.0), (x1 - x, 0.0), (0.0, y0 - y), (0.0, y1 - y)]
                dx, dy = min(moves, key=lambda m: abs(m[0]) + abs(m[1]))
                ag.pos = np.array([x + dx, y + dy])

    # ------------------------------------------------------------------ output
    def snapshot(self, t: float, frame: int) -> PeopleFrame:
        ags = sorted(self.agents, key=lambda a: a.pid)
        ids, shapes, angles, roots, heads, acts = [], [], [], [], [], []
        for ag in ags:
            info = self.infos[ag.pid]
            if info[3] is None:
                info[3] = frame
            info[4] = frame
            speed = float(np.hypot(*ag.vel))
            wgt = float(np.clip(speed / 0.5, 0.0, 1.0))
            wgt = wgt * wgt * (3 - 2 * wgt)
            amp = float(np.clip(speed / 1.0, 0.3, 1.2))
            gait = gait_pose(np.array([ag.phase]), amp)[0]
            ang = (1 - wgt) * ag.pose + wgt * gait
            sway = _SWAY_AMP * 0.5 * (np.sin(2 * np.pi * ag.sway_f[0] * t + ag.sway_p[0])
                                      + np.sin(2 * np.pi * ag.sway_f[1] * t + ag.sway_p[1]))
            sway[_LEG_ANGLES] *= 1 - wgt
            ang = clip_angles(ang + sway)
            ids.append(ag.pid)
            shapes.append(np.asarray(ag.shape))
            angles.append(ang)
            roots.append(ag.pos.copy())
            heads.append(ag.heading)
            acts.append("walk" if wgt > 0.5 else ag.activity)
        S = len(BodyShape._fields)
        return PeopleFrame(ids=np.asarray(ids, dtype=np.int64),
                           shapes=np.asarray(shapes, dtype=np.float64).reshape(-1, S),
                           angles=np.asarray(angles, dtype=np.float64).reshape(-1, NUM_ANGLES),
                           root_xy=np.asarray(roots, dtype=np.float64).reshape(-1, 2),
                           heading=np.asarray(heads, dtype=np.float64), activity=tuple(acts))


def simulate_people(config: SynthConfig, room: Room, rng: np.random.Generator) -> Motion:
    """Simulate ``config.num_frames`` frames of people in ``room`` (deterministic in rng)."""
    crowd = _Crowd(config, room, rng)
    crowd.initialise()
    dt_frame = 1.0 / config.fps
    nsub = max(1, math.ceil(dt_frame / _DT_MAX - 1e-9))
    dt = dt_frame / nsub
    frames = []
    for f in range(config.num_frames):
        t = f * dt_frame
        frames.append(crowd.snapshot(t, f))
        for k in range(nsub):
            crowd.step(t + k * dt, dt)
    people = tuple(PersonInfo(pid=i[0], shape=i[1], appearance=i[2], first_frame=i[3],
                              last_frame=i[4])
                   for i in sorted(crowd.infos.values(), key=lambda v: v[0])
                   if i[3] is not None)
    return Motion(people=people, frames=tuple(frames))
