#!/usr/bin/python3
"""test_k8s.py - deploy/k8s checked offline: rendered, validated, and its pods'
commands run on this machine.

    test_k8s.py SOURCE_DIR BUILD_DIR

1. The base: every manifest parses (PyYAML), the kustomization lists them,
   selectors match their pod labels, the Service selects the learner only.
2. deploy/k8s/overlay: refuses a directory inside the source tree, an image
   without a tag or tagged latest; makes keys (hpo-keygen, secrets 0600) and
   a kustomization outside the tree; nothing is written into the tree.
3. `kubectl kustomize` of the overlay: the Secret holds the key files, every
   workload refers to the generated Secret and ConfigMap; each rendered
   object is checked against the Kubernetes API's schema (python3-kubernetes'
   models: no unknown field, types, required fields).
4. What an operator needs, field by field: requests = limits on every
   container (Guaranteed QoS), the learner's memory and volume equal to the
   documented formula from the replay size (whose row size is hpo-learner's
   own figure), non-root, read-only root, no capabilities, seccomp
   RuntimeDefault (the "restricted" Pod Security level), startup, readiness
   and liveness probes, anti-affinity, a PodDisruptionBudget, the image the
   overlay names (never latest), no actor replicas (so `kubectl scale`
   survives `apply -k`), --resolve-wait on the actors, CurveZMQ always on,
   metrics on 0.0.0.0 with the scrape annotations' port, an evaluation
   Deployment; every flag in the --help of its program.
5. The pods' commands as rendered (root only; skipped with a note
   otherwise): in a network and mount namespace of their own (the ports are
   the manifests' own 5550.., hpo-learner resolves through a private
   /etc/hosts), as uid 65532, with the Secret's files and the ConfigMap's
   values: the learner starts with keys, the probe passes, an actor and the
   evaluation actor join over CurveZMQ and stream, `hpo-status` with only
   the pod's environment answers (kubectl exec) while one without keys gets
   nothing, and the learner stopped (SIGTERM) and started again resumes with
   its replay rows.
"""
import base64
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import yaml

failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok: " + what)
    else:
        print("FAIL: " + what, file=sys.stderr)
        failures += 1
    return cond


def flags_of(cmd):
    return re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", cmd)


def flag_value(cmd, flag):
    m = re.search(re.escape(flag) + r"\s+(\S+)", cmd)
    return m.group(1) if m else None


# ---- schema: the rendered objects against the API's models ----

def schema_errors(obj, type_name, path, models):
    """Unknown fields and wrong types in obj against the model type_name."""
    errs = []
    if type_name == "object":
        return errs
    m = re.match(r"list\[(.*)\]$", type_name)
    if m:
        if not isinstance(obj, list):
            return ["%s: want a list, have %r" % (path, obj)]
        for i, v in enumerate(obj):
            errs += schema_errors(v, m.group(1), "%s[%d]" % (path, i), models)
        return errs
    m = re.match(r"dict\(str, (.*)\)$", type_name)
    if m:
        if not isinstance(obj, dict):
            return ["%s: want a map, have %r" % (path, obj)]
        for k, v in obj.items():
            errs += schema_errors(v, m.group(1), "%s.%s" % (path, k), models)
        return errs
    prim = {"str": str, "int": int, "bool": bool, "float": (int, float),
            "datetime": str, "date": str}
    if type_name in prim:
        ok = isinstance(obj, prim[type_name]) and not (
            type_name == "int" and isinstance(obj, bool))
        return [] if ok else ["%s: want %s, have %r" % (path, type_name, obj)]
    cls = getattr(models, type_name)
    if not isinstance(obj, dict):
        return ["%s: want a %s object, have %r" % (path, type_name, obj)]
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for k, v in obj.items():
        if k not in by_json:
            errs.append("%s: unknown field %s in %s" % (path, k, type_name))
            continue
        errs += schema_errors(v, cls.openapi_types[by_json[k]], path + "." + k, models)
    return errs


def validate(objs):
    try:
        from kubernetes.client import ApiClient
        import kubernetes.client.models as models
    except ImportError:
        print("note: no python3-kubernetes; the schema check is skipped")
        return
    api = ApiClient()
    for o in objs:
        t = "V1" + o["kind"]
        name = "%s/%s" % (o["kind"], o["metadata"]["name"])
        if not hasattr(models, t):
            check(False, "%s: no model %s" % (name, t))
            continue
        errs = schema_errors(o, t, name, models)
        try:
            api._ApiClient__deserialize(o, t)  # required fields, enums
        except (ValueError, TypeError) as e:
            errs.append(str(e))
        check(not errs, "%s is valid under the API's schema (%s)%s" % (
            name, t, (": " + "; ".join(errs[:5])) if errs else ""))


# ---- the pods' commands, run here ----

class Pods:
    """A network and mount namespace standing in for the cluster network:
    loopback up, /etc/hosts mapping the Service name to 127.0.0.1."""

    def __init__(self, work, env_path):
        self.work = work
        self.procs = []
        self.path = env_path
        hosts = os.path.join(work, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost hpo-learner\n")
        ready = os.path.join(work, "ns-ready")
        self.holder = subprocess.Popen(
            ["unshare", "-mn", "--fork", "--", "sh", "-c",
             'ip link set lo up && mount --bind "$0" /etc/hosts && touch "$1" && exec sleep 600',
             hosts, ready], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            if os.path.exists(ready) or self.holder.poll() is not None:
                break
            time.sleep(0.05)
        self.ok = os.path.exists(ready)
        if not self.ok:
            self.error = self.holder.stderr.read().decode()[-300:] if self.holder.poll() is not None else "timeout"
        # the holder's child (sleep) is the namespace's process
        self.ns_pid = None
        if self.ok:
            kids = open("/proc/%d/task/%d/children" % (self.holder.pid, self.holder.pid)).read().split()
            self.ns_pid = int(kids[0]) if kids else None
            self.ok = self.ns_pid is not None

    def argv(self, cmd):
        return ["nsenter", "-t", str(self.ns_pid), "-n", "-m", "--",
                "setpriv", "--reuid=65532", "--regid=65532", "--clear-groups",
                "--"] + cmd

    def env(self, values):
        e = {"PATH": self.path, "HOME": "/nonexistent"}
        e.update(values)
        return e

    def start(self, name, cmd, values):
        log = open(os.path.join(self.work, name + ".log"), "w")
        p = subprocess.Popen(self.argv(cmd), env=self.env(values), stdout=log,
                             stderr=subprocess.STDOUT, cwd="/")
        self.procs.append(p)
        return p

    def run(self, cmd, values, timeout=20):
        return subprocess.run(self.argv(cmd), env=self.env(values), capture_output=True,
                              text=True, timeout=timeout, cwd="/")

    def log(self, name):
        try:
            return open(os.path.join(self.work, name + ".log")).read()
        except OSError:
            return ""

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.time() + 10
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.holder.kill()  # sleep is its child: the namespace goes with it
        self.holder.wait()


def container_env(c, cm, subst):
    values = {}
    for e in c.get("envFrom", []):
        if "configMapRef" in e:
            values.update(cm["data"])
    for e in c.get("env", []):
        values[e["name"]] = subst(e["value"])
    return values


def status_json(pods, values, extra=()):
    import json
    r = pods.run(["hpo-status", "localhost:5550", "--json", "--timeout-ms", "1500"] + list(extra), values)
    if r.returncode != 0:
        return None, r.stderr.strip()[-200:]
    try:
        return json.loads(r.stdout), ""
    except ValueError as e:
        return None, str(e)


def live(src, build, rendered, work):
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
        print("note: not root (no namespaces): the pods' commands are not run here")
        return
    objs = {(o["kind"], o["metadata"]["name"].rsplit("-", 1)[0] if o["kind"] in ("Secret", "ConfigMap")
             else o["metadata"]["name"]): o for o in rendered}
    cm, sec = objs[("ConfigMap", "hpo-settings")], objs[("Secret", "hpo-curve")]
    os.chmod(os.path.dirname(work), 0o755)  # uid 65532 reaches it
    os.chmod(work, 0o755)
    keys = os.path.join(work, "keys")
    os.mkdir(keys, 0o750)
    os.chown(keys, 0, 65532)
    for k, v in sec["data"].items():  # the Secret volume: 0440, group fsGroup
        p = os.path.join(keys, k)
        with open(p, "wb") as f:
            f.write(base64.b64decode(v))
        os.chmod(p, 0o440)
        os.chown(p, 0, 65532)
    var = os.path.join(work, "var")
    os.mkdir(var)
    os.chown(var, 65532, 65532)  # the volume, writable by fsGroup

    def subst(s):
        return s.replace("/keys/", keys + "/").replace("/var/lib/hpo", var)

    bindir = os.path.join(work, "bin")
    os.mkdir(bindir)
    for n, p in (("hpo-learner", "learner/hpo-learner"), ("hpo-actor", "actor/hpo-actor"),
                 ("hpo-status", "tools/hpo-status")):
        os.symlink(os.path.join(build, p), os.path.join(bindir, n))
    shutil.copy(os.path.join(src, "deploy", "container", "hpo-probe"), bindir)
    os.chmod(os.path.join(bindir, "hpo-probe"), 0o755)
    pods = Pods(work, bindir + ":/usr/bin:/bin")
    if not check(pods.ok, "a network namespace for the pods: %s" % getattr(pods, "error", "up")):
        pods.close()
        return
    try:
        live_pods(pods, objs, cm, subst, var)
    finally:
        pods.close()


def live_pods(pods, objs, cm, subst, var):
    sts = objs[("StatefulSet", "hpo-learner")]
    lc = sts["spec"]["template"]["spec"]["containers"][0]
    lenv = container_env(lc, cm, subst)
    lcmd = [subst(a) for a in lc["command"]]
    probe = lc["startupProbe"]["exec"]["command"]
    probe = [os.path.basename(probe[0])] + probe[1:]

    def start_learner(name):
        p = pods.start(name, lcmd, lenv)
        t0 = time.time()
        while time.time() - t0 < 60 and p.poll() is None:
            if pods.run(probe, lenv).returncode == 0:
                return p, time.time() - t0
            time.sleep(0.3)
        return p, None

    learner, took = start_learner("learner")
    if not check(took is not None, "the learner's command (keys always on) starts as uid 65532 "
                 "and its probe passes%s" % (" in %.1f s" % took if took else ": " + pods.log("learner")[-400:])):
        return
    workers = []
    for kind, name in (("Deployment", "hpo-actor"), ("Deployment", "hpo-eval")):
        c = objs[(kind, name)]["spec"]["template"]["spec"]["containers"][0]
        env = container_env(c, cm, subst)
        env["HOSTNAME"] = name + "-7d4b9-x2k4q"
        workers.append(env["HOSTNAME"])
        pods.start(name, [subst(a) for a in c["command"]], env)
    deadline = time.time() + 90
    r, err = None, ""
    while time.time() < deadline:
        r, err = status_json(pods, lenv)
        if r and {a["id"] for a in r["actors"]} >= set(workers) and r["env_steps"] > 300 \
                and r["updates"] > 0:
            break
        time.sleep(0.5)
    ids = sorted(a["id"] for a in r["actors"]) if r else []
    check(r and set(ids) >= set(workers) and r["env_steps"] > 300 and r["curve"],
          "an actor and the evaluation actor joined over CurveZMQ and stream: actors %s, "
          "%s env steps, %s updates%s" % (ids, r and r["env_steps"], r and r["updates"],
                                          "" if r else ": " + err + pods.log("hpo-actor")[-300:]))
    check(r is not None, "hpo-status with only the pod's environment (kubectl exec ... hpo-status) answers")
    noenv = dict(lenv)
    noenv.pop("HPO_CURVE_SERVER", None)
    noenv.pop("HPO_CURVE_KEY", None)
    r2, _ = status_json(pods, noenv, ["--timeout-ms", "800"])
    check(r2 is None, "hpo-status without keys gets no answer (the learner requires CurveZMQ)")

    # rescheduled: SIGTERM (a checkpoint with the replay rows), then the same command
    rows = r["replay_size"] if r else 0
    learner.send_signal(signal.SIGTERM)
    try:
        rc = learner.wait(60)
    except subprocess.TimeoutExpired:
        rc = None
    ck = [f for f in os.listdir(os.path.join(var, "run")) if f.endswith(".ckpt")]
    check(rc == 130 and ck, "SIGTERM: the learner exits 130 (as hpo-train) with a checkpoint "
          "(exit %s, %s)" % (rc, ck))
    _, took = start_learner("learner2")
    m = re.search(r"resumed from \S+: .*?(\d+) replay rows", pods.log("learner2"))
    check(took is not None and m and int(m.group(1)) >= rows > 0,
          "started again, the learner resumes with its replay buffer (%s rows, %s before the stop)"
          % (m and m.group(1), rows))


# ---- main ----

def main():
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    k8s = os.path.join(src, "deploy", "k8s")
    docs = {}
    for name in sorted(os.listdir(k8s)):
        if name.endswith(".yaml"):
            with open(os.path.join(k8s, name)) as f:
                docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    kust = docs.pop("kustomization.yaml")[0]
    check(sorted(kust["resources"]) == sorted(docs), "the kustomization lists every manifest: %s"
          % ", ".join(sorted(docs)))
    check(not [n for n in os.listdir(k8s) if "secret" in n.lower()] and
          not any(o["kind"] == "Secret" for ds in docs.values() for o in ds),
          "no Secret and no key file in the tree")
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # Debian 12 packages kubectl only as kubernetes-client 1.20, whose
        # kustomize predates the overlay's fields: not in deploy/setup
        print("SKIP: no kubectl (1.21 or newer, for kustomize v4+): install it to render deploy/k8s")
        sys.exit(1 if failures else 77)

    with tempfile.TemporaryDirectory() as work:
        env = dict(os.environ, HPO_KEYGEN=os.path.join(build, "tools", "hpo-keygen"))
        overlay = [os.path.join(k8s, "overlay")]
        if not check(os.access(overlay[0], os.X_OK), "deploy/k8s/overlay exists"):
            return
        before = subprocess.run(["git", "-C", src, "status", "--porcelain", "--ignored", "--", "deploy"],
                                capture_output=True, text=True).stdout
        # refusals
        for args, want in (([os.path.join(src, "deploy", "k8s", "mine")], "inside the source tree"),
                           ([os.path.join(work, "a"), "--image", "hpo:latest"], "needs a tag"),
                           ([os.path.join(work, "b"), "--image", "registry.example/hpo"], "needs a tag"),
                           ([os.path.join(work, "c"), "--env", "Nope"], "unknown --env")):
            r = subprocess.run(overlay + args, capture_output=True, text=True, env=env, timeout=30)
            check(r.returncode == 2 and want in r.stderr and not os.path.exists(
                os.path.join(src, "deploy", "k8s", "mine", "keys")),
                  "overlay %s: exit 2, %s" % (" ".join(args[1:]) or "in the tree", r.stderr.strip()[:160]))
        shutil.rmtree(os.path.join(src, "deploy", "k8s", "mine"), ignore_errors=True)

        # the Humanoid overlay: sizes
        big = os.path.join(work, "humanoid")
        r = subprocess.run(overlay + [big, "--image", "registry.example/hpo:0.1.0-g1234567",
                                      "--env", "Humanoid", "--buffer", "1000000"],
                           capture_output=True, text=True, env=env, timeout=30)
        check(r.returncode == 0, "deploy/k8s/overlay DIR (Humanoid, 1M rows): %s" % (r.stdout + r.stderr).strip()[:300])
        for k in ("learner.secret", "actor.secret"):
            p = os.path.join(big, "keys", k)
            check(os.path.exists(p) and stat.S_IMODE(os.stat(p).st_mode) == 0o600,
                  "%s made by hpo-keygen, mode 0600, outside the tree" % k)
        r = subprocess.run([kubectl, "kustomize", big], capture_output=True, text=True, timeout=60)
        if not check(r.returncode == 0, "kubectl kustomize of the overlay%s" % (
                "" if r.returncode == 0 else ": " + r.stderr.strip()[-300:])):
            return
        rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
        validate(rendered)
        fields(src, build, rendered, big)

        # the Pendulum overlay, small enough to run here
        small = os.path.join(work, "pendulum")
        r = subprocess.run(overlay + [small, "--env", "Pendulum", "--buffer", "20000", "--threads", "1",
                                      "--", "--learning-starts", "200", "--pi-hidden", "32",
                                      "--q-hidden", "32", "--batch", "32", "--publish-every", "50"],
                           capture_output=True, text=True, env=env, timeout=30)
        check(r.returncode == 0, "deploy/k8s/overlay DIR (Pendulum, learner flags after --)")
        r = subprocess.run([kubectl, "kustomize", small], capture_output=True, text=True, timeout=60)
        after = subprocess.run(["git", "-C", src, "status", "--porcelain", "--ignored", "--", "deploy"],
                               capture_output=True, text=True).stdout
        check(before == after, "nothing was written into the tree (git status of deploy/)")
        if check(r.returncode == 0, "kubectl kustomize of the Pendulum overlay"):
            pods_work = os.path.join(work, "pods")
            os.mkdir(pods_work)
            live(src, build, [d for d in yaml.safe_load_all(r.stdout) if d], pods_work)


def replay_row_bytes(build, env):
    """hpo-learner's own replay row size for env, from its memory refusal."""
    r = subprocess.run([os.path.join(build, "learner", "hpo-learner"), "--env", env,
                        "--buffer", "1000000000000", "--out", "/nonexistent/x"],
                       capture_output=True, text=True, timeout=30)
    m = re.search(r"--buffer 1000000000000 needs ([0-9.]+) GB", r.stderr)
    return round(float(m.group(1)) * 1e9 / 1e12) if m else None


def quantity(q):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    m = re.match(r"^(\d+)(Ki|Mi|Gi|Ti)?$", str(q))
    return int(m.group(1)) * units.get(m.group(2), 1) if m else None


def fields(src, build, rendered, overlay_dir):
    by = {}
    for o in rendered:
        by.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    check(sorted(by) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service",
                         "StatefulSet"] and sorted(by["Deployment"]) == ["hpo-actor", "hpo-eval"],
          "rendered: ConfigMap, Secret, Service, StatefulSet, Deployments hpo-actor and hpo-eval, "
          "PodDisruptionBudget")
    sts = by["StatefulSet"]["hpo-learner"]
    act, ev = by["Deployment"]["hpo-actor"], by["Deployment"]["hpo-eval"]
    svc = by["Service"]["hpo-learner"]
    cm = list(by["ConfigMap"].values())[0]
    sec = list(by["Secret"].values())[0]
    pdb = list(by["PodDisruptionBudget"].values())[0]
    keydir = os.path.join(overlay_dir, "keys")
    check(sorted(sec["data"]) == ["actor.secret", "allow", "learner.public", "learner.secret"] and all(
        base64.b64decode(v) == open(os.path.join(keydir, k), "rb").read() for k, v in sec["data"].items()),
        "the Secret %s holds the overlay's key files" % sec["metadata"]["name"])
    for w in (sts, act, ev):
        spec = w["spec"]["template"]["spec"]
        name = w["metadata"]["name"]
        c = spec["containers"][0]
        check([v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v] == [sec["metadata"]["name"]]
              and [e["configMapRef"]["name"] for e in c["envFrom"]] == [cm["metadata"]["name"]],
              "%s mounts the generated Secret and reads the generated ConfigMap" % name)
        res = c.get("resources", {})
        check(res.get("requests") and res.get("requests") == res.get("limits") and
              set(res["requests"]) == {"cpu", "memory"},
              "%s: cpu and memory requests equal to limits (Guaranteed QoS): %s" % (name, res.get("requests")))
        psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0 and
              psc.get("seccompProfile", {}).get("type") == "RuntimeDefault" and
              csc.get("allowPrivilegeEscalation") is False and csc.get("readOnlyRootFilesystem") is True and
              csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc.get("capabilities", {}).get("add"),
              "%s: non-root, seccomp RuntimeDefault, no privilege escalation, read-only root, "
              "capabilities dropped (Pod Security 'restricted')" % name)
        check(c["image"] == "registry.example/hpo:0.1.0-g1234567" and c.get("imagePullPolicy") == "IfNotPresent",
              "%s runs the overlay's image %s" % (name, c["image"]))
        check(bool(spec.get("affinity", {}).get("podAntiAffinity")), "%s has a pod anti-affinity" % name)
    check("replicas" not in act["spec"], "hpo-actor has no replicas: kubectl scale survives apply -k")
    check(ev["spec"].get("replicas") == 1, "one evaluation actor")
    check(pdb["spec"]["selector"]["matchLabels"] == act["spec"]["selector"]["matchLabels"]
          and "maxUnavailable" in pdb["spec"], "a PodDisruptionBudget over the actors")
    check(bool(act["spec"]["template"]["spec"].get("topologySpreadConstraints")), "actors spread over nodes")

    lc = sts["spec"]["template"]["spec"]["containers"][0]
    lcmd = lc["command"][-1]
    acmd = act["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    ecmd = ev["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    flags = cm["data"]["HPO_LEARNER_FLAGS"]
    port, mport = int(flag_value(lcmd, "--port")), int(flag_value(lcmd, "--metrics-port"))
    want = sorted([port, port + 1, port + 2, mport])
    check(sorted(p["containerPort"] for p in lc["ports"]) == want and
          sorted(p["port"] for p in svc["spec"]["ports"]) == want,
          "learner and Service ports are --port %d..%d and --metrics-port %d" % (port, port + 2, mport))
    ann = sts["spec"]["template"]["metadata"].get("annotations", {})
    check(flag_value(lcmd, "--metrics-bind") == "0.0.0.0" and ann.get("prometheus.io/scrape") == "true"
          and ann.get("prometheus.io/port") == str(mport),
          "metrics on 0.0.0.0:%d with the scrape annotations (%s)" % (mport, ann))
    check("--curve-secret /keys/learner.secret" in lcmd and "--curve-allow /keys/allow" in lcmd and
          "[" not in lcmd, "the learner always runs with keys")
    for n, cmd in (("hpo-actor", acmd), ("hpo-eval", ecmd)):
        check(flag_value(cmd, "--learner") == "%s:%d" % (svc["metadata"]["name"], port) and
              int(flag_value(cmd, "--resolve-wait") or 0) >= 60 and
              "--curve-server /keys/learner.public --curve-key /keys/actor.secret" in cmd,
              "%s: --learner the Service, --resolve-wait %s, keys" % (n, flag_value(cmd, "--resolve-wait")))
    check("--eval" in ecmd, "hpo-eval evaluates (--eval)")
    check("--checkpoint-replay 1" in flags and "--resume" in lcmd,
          "the learner resumes with its replay buffer (--resume, --checkpoint-replay 1)")
    lenv = {e["name"]: e["value"] for e in lc.get("env", [])}
    check(lenv.get("HPO_CURVE_SERVER") == "/keys/learner.public" and
          lenv.get("HPO_CURVE_KEY") == "/keys/actor.secret",
          "the learner pod names its status keys (hpo-status, the probe, kubectl exec)")
    for p in ("startupProbe", "readinessProbe", "livenessProbe"):
        check(lc.get(p, {}).get("exec", {}).get("command") == ["/usr/local/bin/hpo-probe"],
              "the learner's %s runs hpo-probe" % p)

    # sizes from the replay (docs/deploy.md's formula, hpo-learner's row size)
    row = replay_row_bytes(build, "Humanoid")
    rows = int(flag_value(flags, "--buffer"))
    keep = int(flag_value(flags, "--keep"))
    mib = -(-rows * row // 2**20) if row else 0
    mem = quantity(lc["resources"]["limits"]["memory"])
    vol = quantity(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"])
    check(row == 2860 and mem == (2 * mib + 512) * 2**20,
          "learner memory %s = 2 x replay (%d rows x %s B, hpo-learner's figure) + 512 Mi"
          % (lc["resources"]["limits"]["memory"], rows, row))
    check(vol == -(-(mib * (keep + 1) + 1024) // 1024) * 2**30 and vol >= (keep + 1) * rows * row,
          "volume %s holds %d checkpoints with the replay and 1 Gi more"
          % (sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"], keep + 1))
    check(sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 60 + mib // 50,
          "grace period %ss: 60 s + the replay at 50 MiB/s" % sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])
    # the overlay's dims against the learner's, every environment
    wrong = []
    for env_name, dims in re.findall(r"^(\w+)\) dims=\"(\d+ \d+)\" ;;$",
                                     open(os.path.join(src, "deploy", "k8s", "overlay")).read(), re.M):
        o, a = map(int, dims.split())
        if replay_row_bytes(build, env_name) != (2 * o + a + 2) * 4:
            wrong.append(env_name)
    check(not wrong, "the overlay's observation and action sizes give hpo-learner's row size for every "
          "environment%s" % (": wrong " + " ".join(wrong) if wrong else ""))

    # flags against the programs' --help
    helps = {}
    for n, p in (("hpo-learner", "learner/hpo-learner"), ("hpo-actor", "actor/hpo-actor"),
                 ("hpo-status", "tools/hpo-status")):
        r = subprocess.run([os.path.join(build, p), "--help"], capture_output=True, text=True, timeout=10)
        helps[n] = r.stdout + r.stderr
    probe = open(os.path.join(src, "deploy", "container", "hpo-probe")).read()
    for prog, text in (("hpo-learner", lcmd + " " + flags), ("hpo-actor", acmd + " " + ecmd),
                       ("hpo-status", probe)):
        unknown = [f for f in flags_of(text) if f not in helps[prog]]
        check(not unknown, "%s's flags in the manifests are in its --help%s" %
              (prog, (": unknown " + " ".join(unknown)) if unknown else ""))
    check("HPO_CURVE_SERVER" in helps["hpo-status"], "hpo-status reads HPO_CURVE_SERVER/HPO_CURVE_KEY")


if __name__ == "__main__":
    main()
    if failures:
        print("%d failure(s)" % failures, file=sys.stderr)
        sys.exit(1)
    print("all ok")
