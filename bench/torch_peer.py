#!/usr/bin/python3
"""PyTorch peer of one SAC-HPO update (the comparison point for the C benchmark).

Computes exactly the update fixed by docs/algorithm.md (shared docs): Hamiltonian
critic target, critic step, policy step through the proposed leapfrog (16) with
tempering (17), fixed alpha, Polyak. Timing covers only the update (the batch is
pre-generated random data with a fixed seed; replay sampling is not timed).

stdout: exactly one line, e.g.
    impl=torch mode=hpo threads=1 updates_per_s=41.2
Diagnostics go to stderr. `--check` runs a self-test instead and prints PASS/FAIL.

Choices made where algorithm.md leaves room (kept identical to the C side's intent):
  * critic loss has no 0.5 factor: sum_j mean (Qj - y)^2;
  * weights use PyTorch's default nn.Linear init (uniform fan-in);
  * T_h and sigma_h are two separate networks (each concat(s,a,g) -> h ELU -> d_a);
  * g(a) is taken with autograd.grad(Qmin.sum(), a) without create_graph and detached:
    exact for ReLU critics (dQ/da is piecewise constant);
  * rho_K is never used by a loss, so f(a_K) is not evaluated: K gradient evaluations
    at a_0..a_{K-1} per HD pass, plus Qmin at clip(a_K);
  * the critic target uses the same dynamics as the policy optimization of the mode
    (hpo/baseline3: proposed, baseline1: conventional, baseline2/sac: a0); exploration
    dynamics do not enter an update. `--target base` forces aK' = a0'.
"""
import argparse
import ctypes
import math
import os
import sys
import time


def _threads_from_argv():
    """--threads N, read before torch loads so OpenBLAS starts with N threads."""
    for i, x in enumerate(sys.argv):
        try:
            if x == "--threads":
                return int(sys.argv[i + 1])
            if x.startswith("--threads="):
                return int(x.split("=", 1)[1])
        except (IndexError, ValueError):
            break
    return 1


# Debian's torch does its matrix products in the system OpenBLAS (pthread build), whose
# thread pool torch.set_num_threads does not control: pin it to --threads as well.
# With two pools (OpenMP for elementwise ops, OpenBLAS for products) on N cores, spinning
# OpenMP workers starve the BLAS threads (measured: 3-4x slower at N=2), so unless the
# caller chose otherwise, idle OpenMP workers sleep.
os.environ["OPENBLAS_NUM_THREADS"] = str(_threads_from_argv())
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
LOG2 = math.log(2.0)

# mode -> dynamics used by the policy loss (and the critic target)
MODE_DYN = {"hpo": "proposed", "baseline1": "conventional", "baseline2": None,
            "baseline3": "proposed", "sac": None}


def eprint(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- networks ----

class Policy(nn.Module):
    """s -> l layers of H ReLU -> (mu, log_std), log_std clamped to [-20, 2]."""

    def __init__(self, ds, da, hidden, layers):
        super().__init__()
        mods, d = [], ds
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        self.body = nn.Sequential(*mods)
        self.head = nn.Linear(d, 2 * da)
        self.da = da

    def forward(self, s, xi):
        """Returns a0 (B, da) and log pi(a0|s) (B,) for noise xi (B, da)."""
        out = self.head(self.body(s))
        mu, log_std = out[:, :self.da], out[:, self.da:].clamp(-20.0, 2.0)
        std = log_std.exp()
        u = mu + std * xi
        lognorm = -0.5 * ((u - mu) / std) ** 2 - log_std - LOG_SQRT_2PI
        logdet = 2.0 * (LOG2 - u - F.softplus(-2.0 * u))   # log(1 - tanh(u)^2)
        return torch.tanh(u), (lognorm - logdet).sum(dim=1)


def critic(ds, da, hidden):
    """concat(s, a) -> 2 layers of H ReLU -> 1."""
    return nn.Sequential(nn.Linear(ds + da, hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def small_net(ds, da, h, out_act):
    """concat(s, a, g) -> h ELU -> da, out_act (T_h: tanh, sigma_h: sigmoid)."""
    return nn.Sequential(nn.Linear(ds + 2 * da, h), nn.ELU(), nn.Linear(h, da), out_act)


def set_requires_grad(params, flag):
    for p in params:
        p.requires_grad_(flag)


# ---- the learner ----

class Learner:
    def __init__(self, args, dtype=torch.float32):
        ds, da, H = args.obs, args.act, args.hidden
        kw = dict(dtype=dtype)
        self.args, self.dyn = args, MODE_DYN[args.mode]
        self.tdyn = None if args.target == "base" else self.dyn
        self.pi = Policy(ds, da, H, args.layers).to(**kw)
        self.q1, self.q2 = critic(ds, da, H).to(**kw), critic(ds, da, H).to(**kw)
        self.q1t, self.q2t = critic(ds, da, H).to(**kw), critic(ds, da, H).to(**kw)
        self.q1t.load_state_dict(self.q1.state_dict())
        self.q2t.load_state_dict(self.q2.state_dict())
        self.qparams = list(self.q1.parameters()) + list(self.q2.parameters())
        self.tparams = list(self.q1t.parameters()) + list(self.q2t.parameters())
        set_requires_grad(self.tparams, False)
        self.hparams = []
        if self.dyn == "proposed":
            self.Th = small_net(ds, da, args.h, nn.Tanh()).to(**kw)
            self.Sh = small_net(ds, da, args.h, nn.Sigmoid()).to(**kw)
            self.hparams = list(self.Th.parameters()) + list(self.Sh.parameters())
        self.pparams = list(self.pi.parameters()) + self.hparams
        # Adam is per-parameter, so one optimizer per group equals one per network.
        self.q_opt = torch.optim.Adam(self.qparams, lr=args.lr, foreach=True)
        self.p_opt = torch.optim.Adam(self.pparams, lr=args.lr, foreach=True)
        # tempering (17): sqrt(beta_k) = 1/((1 - 1/sqrt(beta0)) k^2/K^2 + 1/sqrt(beta0)),
        # 1/sqrt(beta0) = std_tr; c_k = sqrt(beta_{k-1}/beta_k).
        K, st = args.K, args.std_tr
        sb = [1.0 / ((1.0 - st) * k * k / (K * K) + st) for k in range(K + 1)]
        self.c = [None] + [sb[k - 1] / sb[k] for k in range(1, K + 1)]

    def qmin(self, s, a, t=False):
        sa = torch.cat([s, a], dim=1)
        if t:
            return torch.min(self.q1t(sa), self.q2t(sa)).squeeze(1)
        return torch.min(self.q1(sa), self.q2(sa)).squeeze(1)

    def grad_u(self, s, a):
        """grad_U = -(1/alpha) dQmin/da at a, as a constant (no graph)."""
        a = a.detach().requires_grad_(True)
        with torch.enable_grad():
            q = self.qmin(s, a)
            dq, = torch.autograd.grad(q.sum(), a)
        return dq * (-1.0 / self.args.alpha)

    def force(self, s, a, dyn):
        gu = self.grad_u(s, a)
        if dyn == "conventional":
            return gu
        g = gu / (gu.norm(dim=1, keepdim=True) + 1e-6)
        x = torch.cat([s, a, g], dim=1)
        sig = self.Sh(x)
        return sig * g + (1.0 - sig) * self.Th(x)

    def hd(self, s, a, rho, dyn):
        """(16)/(12) with tempering (17); returns a_K (unclipped). rho_K is not formed."""
        eps, K = self.args.eps, self.args.K
        f = self.force(s, a, dyn)
        for k in range(1, K + 1):
            rho = rho - (0.5 * eps) * f
            a = a + eps * rho
            if k == K:
                break
            f = self.force(s, a, dyn)
            rho = (rho - (0.5 * eps) * f) * self.c[k]
        return a

    def noise(self, B, like):
        da = self.args.act
        xi = torch.randn(B, da, dtype=like.dtype)
        rho0 = torch.randn(B, da, dtype=like.dtype) * self.args.std_tr
        return xi, rho0

    def policy_loss(self, s, xi, rho0):
        """mean[alpha log pi(a0|s) - Qmin(s, clip(aK))]; critics must be frozen."""
        a0, logp = self.pi(s, xi)
        a = a0 if self.dyn is None else self.hd(s, a0, rho0, self.dyn).clamp(-1.0, 1.0)
        return (self.args.alpha * logp - self.qmin(s, a)).mean()

    def update(self, batch, critic_step=True):
        args = self.args
        s, a, r, s2, term = batch
        B = s.shape[0]
        set_requires_grad(self.qparams, False)
        # 1. critic target (online critics drive the HD gradient; no grad into y)
        if critic_step:
            xi, rho0 = self.noise(B, s)
            with torch.no_grad():
                a0p, logpp = self.pi(s2, xi)
                aKp = a0p if self.tdyn is None else \
                    self.hd(s2, a0p, rho0, self.tdyn).clamp(-1.0, 1.0)
                y = r + args.gamma * (1.0 - term) * \
                    (self.qmin(s2, aKp, t=True) - args.alpha * logpp)
            # 2. critic loss and step
            set_requires_grad(self.qparams, True)
            sa = torch.cat([s, a], dim=1)
            lq = ((self.q1(sa).squeeze(1) - y) ** 2).mean() + \
                ((self.q2(sa).squeeze(1) - y) ** 2).mean()
            self.q_opt.zero_grad(set_to_none=True)
            lq.backward()
            self.q_opt.step()
            set_requires_grad(self.qparams, False)
        else:
            lq = torch.zeros(())
        # 3. policy loss with the updated critics (frozen here)
        xi, rho0 = self.noise(B, s)
        lpi = self.policy_loss(s, xi, rho0)
        self.p_opt.zero_grad(set_to_none=True)
        lpi.backward()
        self.p_opt.step()
        set_requires_grad(self.qparams, True)
        # 4. alpha fixed. 5. Polyak
        if critic_step:
            with torch.no_grad():
                torch._foreach_mul_(self.tparams, 1.0 - args.tau)
                torch._foreach_add_(self.tparams, self.qparams, alpha=args.tau)
        return lq.detach(), lpi.detach()


def make_batches(args, n, dtype=torch.float32, seed=0):
    """n random minibatches shaped like HalfCheetah transitions."""
    gen = torch.Generator().manual_seed(seed)
    B, ds, da = args.batch, args.obs, args.act
    out = []
    for _ in range(n):
        s = torch.randn(B, ds, generator=gen, dtype=dtype)
        a = torch.rand(B, da, generator=gen, dtype=dtype) * 2.0 - 1.0
        r = torch.randn(B, generator=gen, dtype=dtype)
        s2 = s + 0.1 * torch.randn(B, ds, generator=gen, dtype=dtype)
        term = (torch.rand(B, generator=gen) < 0.01).to(dtype)
        out.append((s, a, r, s2, term))
    return out


# ---- self-test ----

def fd_check(mode, dtype=torch.float64):
    """Finite differences of L_pi w.r.t. sampled policy and T_h/sigma_h weights."""
    a = argparse.Namespace(**vars(ARGS))
    a.mode, a.obs, a.act, a.batch, a.hidden, a.h, a.std_tr = mode, 5, 3, 8, 16, 8, 0.5
    torch.manual_seed(1)
    L = Learner(a, dtype)
    s = make_batches(a, 1, dtype, seed=2)[0][0]
    xi, rho0 = L.noise(a.batch, s)
    set_requires_grad(L.qparams, False)
    loss = L.policy_loss(s, xi, rho0)
    grads = torch.autograd.grad(loss, L.pparams)
    worst, h = 0.0, 1e-6
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p, gp in zip(L.pparams, grads):
            flat, gflat = p.view(-1), gp.reshape(-1)
            for i in torch.randint(0, flat.numel(), (6,), generator=gen).tolist():
                old = flat[i].item()
                flat[i] = old + h
                lp = L.policy_loss(s, xi, rho0).item()
                flat[i] = old - h
                lm = L.policy_loss(s, xi, rho0).item()
                flat[i] = old
                fd = (lp - lm) / (2 * h)
                err = abs(fd - gflat[i].item()) / max(1e-6, abs(fd) + abs(gflat[i].item()))
                worst = max(worst, err)
    return worst


def check():
    ok = True
    for mode in ("hpo", "baseline1"):
        w = fd_check(mode)
        good = w < 1e-5
        ok &= good
        eprint(f"check: {mode} finite-difference of L_pi, worst rel err {w:.2e} "
               f"{'ok' if good else 'BAD'}")
    torch.manual_seed(0)
    L = Learner(ARGS)
    batch = make_batches(ARGS, 1)[0]
    for i in range(20):                      # full updates stay finite
        lq, lpi = L.update(batch)
        if not (torch.isfinite(lq) and torch.isfinite(lpi)):
            ok = False
            eprint(f"check: non-finite loss at update {i}: {lq} {lpi}")
            break
    # policy-only steps against the now-fixed critics must lower L_pi
    losses = [L.update(batch, critic_step=False)[1].item() for _ in range(200)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    good = math.isfinite(last) and last < first
    ok &= good
    eprint(f"check: {ARGS.mode} policy loss over 200 steps {first:.4f} -> {last:.4f} "
           f"{'ok' if good else 'BAD'}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


# ---- timing ----

def bench():
    torch.manual_seed(0)
    L = Learner(ARGS)
    batches = make_batches(ARGS, 8)
    n = 0
    for i in range(ARGS.warmup):
        L.update(batches[i % len(batches)])
    laps = []
    c0 = time.process_time()
    t0 = t = time.perf_counter()
    while True:
        lq, lpi = L.update(batches[n % len(batches)])
        n += 1
        now = time.perf_counter()
        laps.append(now - t)
        t = now
        dt = now - t0
        if dt >= ARGS.seconds:
            break
    cpu = time.process_time() - c0
    laps.sort()
    # the median lap and the CPU share help tell a slow update from a busy machine
    eprint(f"torch_peer: {n} updates in {dt:.3f} s (cpu {cpu:.2f} s), median "
           f"{laps[n // 2] * 1e3:.2f} ms, fastest {laps[0] * 1e3:.2f} ms, "
           f"last Lq={lq.item():.4g} Lpi={lpi.item():.4g}")
    print(f"impl=torch mode={ARGS.mode} threads={ARGS.threads} updates_per_s={n / dt:.3g}")
    return 0


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", default="hpo", choices=list(MODE_DYN))
    p.add_argument("--target", default="hd", choices=["hd", "base"],
                   help="critic target with HD actions (default) or base actions")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--obs", type=int, default=17)
    p.add_argument("--act", type=int, default=6)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2, help="policy hidden layers (l)")
    p.add_argument("--h", type=int, default=32, help="T_h / sigma_h hidden width")
    p.add_argument("--K", type=int, default=3)
    p.add_argument("--eps", type=float, default=0.2)
    p.add_argument("--std-tr", dest="std_tr", type=float, default=1.0)
    p.add_argument("--alpha", type=float, default=0.2)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--tau", type=float, default=0.005)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--check", action="store_true", help="run the self-test, print PASS/FAIL")
    return p.parse_args()


def set_threads(n):
    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)
    blas = "?"
    for lib in ("libblas.so.3", "libopenblas.so.0"):
        try:
            so = ctypes.CDLL(lib)
            so.openblas_set_num_threads(n)
            blas = f"{lib} threads={so.openblas_get_num_threads()}"
            break
        except (OSError, AttributeError):
            continue
    eprint(f"torch_peer: torch {torch.__version__} intra-op threads="
           f"{torch.get_num_threads()} blas: {blas}")


if __name__ == "__main__":
    ARGS = parse()
    set_threads(ARGS.threads)
    torch.set_default_dtype(torch.float32)
    sys.exit(check() if ARGS.check else bench())
