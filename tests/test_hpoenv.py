"""test_hpoenv.py - libhpoenv.so from Python against env.h from C.

usage: /usr/bin/python3 tests/test_hpoenv.py LIBHPOENV HPOENV_TRACE

Steps Pendulum, HalfCheetah and Hopper from Python (ctypes on the library)
and from C (hpoenv_trace, linked to env.h directly) with the same seed and
the same actions (some outside [-1, 1], so clipping is exercised), through
episode ends (truncations and Hopper's terminations), and requires the two
byte streams of observations, rewards and flags to be identical. Then checks
the error paths and the reset-stream save/load.
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "bench"))
import hpoenv  # noqa: E402

LIB, TRACE = sys.argv[1], sys.argv[2]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def python_trace(lib, name, seed, actions):
    """The same stream hpoenv_trace writes, and the episode-end counts."""
    env = hpoenv.Env(lib, name, seed)
    out = [env.reset().tobytes()]
    n_term = n_trunc = 0
    for a in actions:
        obs, r, term, trunc = env.step(a)
        out.append(obs.tobytes())
        out.append(struct.pack("<f", r))
        out.append(struct.pack("<ii", int(term), int(trunc)))
        n_term += term
        n_trunc += trunc
        if term or trunc:
            out.append(env.reset().tobytes())
    env.close()
    return b"".join(out), n_term, n_trunc


def same_run(lib, name, seed, steps, min_term, min_trunc, tmp):
    env = hpoenv.Env(lib, name, seed)
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1.2, 1.2, (steps, env.act_dim)).astype(np.float32)
    env.close()
    act_path = os.path.join(tmp, f"{name}.act")
    out_path = os.path.join(tmp, f"{name}.c.bin")
    actions.tofile(act_path)
    subprocess.run([TRACE, name, str(seed), act_path, out_path], check=True,
                   timeout=60)
    with open(out_path, "rb") as f:
        from_c = f.read()
    from_py, n_term, n_trunc = python_trace(lib, name, seed, actions)
    check(len(from_c) > 0 and from_py == from_c,
          f"{name} seed {seed}, {steps} steps: Python and C streams identical "
          f"({len(from_c)} bytes)")
    check(n_term >= min_term and n_trunc >= min_trunc,
          f"{name}: episode ends reached (terminated {n_term}, truncated "
          f"{n_trunc})")


def main():
    lib = hpoenv.load(LIB)
    with tempfile.TemporaryDirectory() as tmp:
        same_run(lib, "Pendulum", 7, 450, 0, 2, tmp)
        same_run(lib, "HalfCheetah", 3, 1100, 0, 1, tmp)
        same_run(lib, "Hopper", 5, 400, 2, 0, tmp)

    # names: case and -v5 accepted, unknown refused with the known ones
    env = hpoenv.Env(lib, "hopper-v5", 1)
    check((env.name, env.obs_dim, env.act_dim, env.max_episode_steps) ==
          ("Hopper", 11, 3, 1000), "hopper-v5 resolves to Hopper 11/3/1000")
    try:
        hpoenv.Env(lib, "Cartpole", 1)
        check(False, "unknown name refused")
    except hpoenv.HpoEnvError as e:
        check("unknown environment 'Cartpole'" in str(e) and
              "HalfCheetah" in str(e), f"unknown name refused: {e}")
    try:
        env.step(np.zeros(2, dtype=np.float32))
        check(False, "wrong action length refused")
    except ValueError as e:
        check("expected (3,)" in str(e), f"wrong action length refused: {e}")

    # the reset-noise stream round-trips: the same reset after a load
    state = env.rng_state()
    first = env.reset()
    env.reset()
    env.set_rng_state(state)
    check(np.array_equal(env.reset(), first), "rng_state/set_rng_state "
          "replays the same reset")
    try:
        env.set_rng_state(b"short")
        check(False, "short RNG state refused")
    except hpoenv.HpoEnvError:
        check(True, "short RNG state refused")
    env.close()
    env.close()  # a second close is harmless

    # a closed environment refuses every call with a clear exception (the
    # handle is NULL after close; passing it on used to be a SIGSEGV)
    for what, call in [("reset", env.reset),
                       ("step", lambda: env.step(np.zeros(3))),
                       ("seed", lambda: env.seed(1)),
                       ("episode_steps", lambda: env.episode_steps),
                       ("rng_state", env.rng_state),
                       ("set_rng_state", lambda: env.set_rng_state(state))]:
        try:
            call()
            check(False, f"{what} after close refused")
        except hpoenv.HpoEnvError as e:
            check("after close()" in str(e) and "Hopper" in str(e),
                  f"{what} after close refused: {e}")

    # reseeding gives the creation seed's resets; the evaluation seed is
    # hpo-train's (a fixed function of the run seed)
    a, b = hpoenv.Env(lib, "Hopper", 9), hpoenv.Env(lib, "Hopper", 1)
    b.seed(9)
    check(np.array_equal(a.reset(), b.reset()), "seed() equals creation seed")
    for s in (1, 2, 12345):
        p = subprocess.run([TRACE, "--eval-seed", str(s)], timeout=60,
                           capture_output=True, text=True, check=True)
        check(str(hpoenv.eval_seed(lib, s)) == p.stdout.strip(),
              f"eval_seed({s}) is hpo-train's evaluation seed "
              f"{p.stdout.strip()}")
    a.step(np.zeros(3))
    check(a.episode_steps == 1, "episode_steps counts steps")

    # the library itself answers a NULL handle (and NULL arrays) with its
    # documented error values, in a child process so a crash is seen as one
    code = r"""
import ctypes, math, sys
sys.path.insert(0, sys.argv[1]); import hpoenv
lib = hpoenv.load(sys.argv[2])
buf = ctypes.create_string_buffer(hpoenv.RNG_BYTES)
obs = (ctypes.c_float * 32)()
act = (ctypes.c_float * 8)()
t, u = ctypes.c_int(7), ctypes.c_int(7)
f32 = ctypes.POINTER(ctypes.c_float)
print(lib.hpoenv_name(None), lib.hpoenv_obs_dim(None), lib.hpoenv_act_dim(None),
      lib.hpoenv_max_episode_steps(None), lib.hpoenv_episode_steps(None),
      lib.hpoenv_seed(None, 1), lib.hpoenv_reset(None, obs),
      math.isnan(lib.hpoenv_step(None, act, obs, ctypes.byref(t),
                                 ctypes.byref(u))), t.value, u.value,
      lib.hpoenv_rng_save(None, buf, hpoenv.RNG_BYTES),
      lib.hpoenv_rng_load(None, buf, hpoenv.RNG_BYTES))
h = ctypes.c_void_p(lib.hpoenv_new(b"Pendulum", 1, None, 0))
print(lib.hpoenv_reset(h, ctypes.cast(None, f32)),
      math.isnan(lib.hpoenv_step(h, ctypes.cast(None, f32), obs,
                                 ctypes.byref(t), ctypes.byref(u))),
      math.isnan(lib.hpoenv_step(h, act, obs, None, ctypes.byref(u))))
lib.hpoenv_destroy(ctypes.byref(h))
lib.hpoenv_destroy(ctypes.byref(h))
lib.hpoenv_destroy(None)
print(h.value, lib.hpoenv_obs_dim(h))
"""
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "bench")
    p = subprocess.run([sys.executable, "-c", code, bench, LIB],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and p.stdout.split("\n")[:3] ==
          ["None -1 -1 -1 -1 -1 -1 True 7 7 -1 -1", "-1 True True",
           "None -1"],
          f"NULL handle and NULL arrays answered with error values, no crash "
          f"(exit {p.returncode}, out {p.stdout!r}, err {p.stderr[-300:]!r})")

    # a missing model directory is named
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import hpoenv; "
            "hpoenv.Env(hpoenv.load(sys.argv[2]), 'Walker2d', 1)")
    p = subprocess.run([sys.executable, "-c", code, bench, LIB],
                       env=dict(os.environ, HPO_MODEL_DIR="/nonexistent/m"),
                       capture_output=True, text=True, timeout=60)
    check(p.returncode != 0 and "/nonexistent/m/walker2d.xml" in p.stderr,
          "missing model file named in the error")
    try:
        hpoenv.load("/nonexistent/libhpoenv.so")
        check(False, "bad library path refused")
    except hpoenv.HpoEnvError as e:
        check("/nonexistent/libhpoenv.so" in str(e), f"bad library path: {e}")

    print(f"{failures} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
