#!/usr/bin/python3
"""test_k8s.py - deploy/k8s checked offline against the programs.

    test_k8s.py SOURCE_DIR BUILD_DIR

Every manifest parses (PyYAML); the kustomization lists them all; selectors
match their pod labels and the Service's selector matches the learner's
pods only; the StatefulSet names the headless Service; the container and
Service ports are the learner's --port P, P+1, P+2 and --metrics-port; the
actors' --learner is the Service's DNS name and P; every --flag in the
commands is one the program's --help lists; the probe and the commands'
programs are in the installed set (meson install into a temporary
directory, the files the image gets, plus deploy/container/hpo-probe);
`kubectl kustomize` renders the same objects and `kubectl apply
--dry-run=client` accepts them when kubectl works without a cluster.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok: " + what)
    else:
        print("FAIL: " + what, file=sys.stderr)
        failures += 1


def flags_of(cmd):
    return re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", cmd)


def flag_value(cmd, flag):
    m = re.search(re.escape(flag) + r"\s+(\S+)", cmd)
    return m.group(1) if m else None


def main():
    src, build = sys.argv[1], sys.argv[2]
    k8s = os.path.join(src, "deploy", "k8s")
    docs = {}
    for name in sorted(os.listdir(k8s)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(k8s, name)) as f:
            try:
                docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                check(False, "%s parses: %s" % (name, e))
                return
    check(len(docs) == 6, "6 manifests parse: %s" % ", ".join(sorted(docs)))
    kust = docs.pop("kustomization.yaml")[0]
    check(sorted(kust["resources"]) == sorted(docs),
          "the kustomization lists every manifest")
    objs = {}
    for name, ds in docs.items():
        for d in ds:
            objs[(d["kind"], d["metadata"]["name"])] = d
    sts = objs.get(("StatefulSet", "hpo-learner"))
    dep = objs.get(("Deployment", "hpo-actor"))
    svc = objs.get(("Service", "hpo-learner"))
    cm = objs.get(("ConfigMap", "hpo-settings"))
    sec = objs.get(("Secret", "hpo-curve"))
    check(None not in (sts, dep, svc, cm, sec),
          "StatefulSet, Deployment, Service, ConfigMap and Secret present")
    if None in (sts, dep, svc, cm, sec):
        return

    for kind, o in (("StatefulSet", sts), ("Deployment", dep)):
        sel = o["spec"]["selector"]["matchLabels"]
        lab = o["spec"]["template"]["metadata"]["labels"]
        check(all(lab.get(k) == v for k, v in sel.items()),
              "%s selector %s matches its pod labels" % (kind, sel))
    slab = sts["spec"]["template"]["metadata"]["labels"]
    alab = dep["spec"]["template"]["metadata"]["labels"]
    ssel = svc["spec"]["selector"]
    check(all(slab.get(k) == v for k, v in ssel.items()) and
          not all(alab.get(k) == v for k, v in ssel.items()),
          "the Service selects the learner's pods, not the actors'")
    check(svc["spec"].get("clusterIP") == "None", "the Service is headless")
    check(sts["spec"]["serviceName"] == svc["metadata"]["name"] and
          sts["spec"]["replicas"] == 1, "one learner replica under the Service")
    check(any(v["metadata"]["name"] == "run" for v in sts["spec"]["volumeClaimTemplates"]),
          "the learner's run directory is a persistent volume")

    lc = sts["spec"]["template"]["spec"]["containers"][0]
    ac = dep["spec"]["template"]["spec"]["containers"][0]
    lcmd = lc["command"][-1]
    acmd = ac["command"][-1]
    port = int(flag_value(lcmd, "--port"))
    mport = int(flag_value(lcmd, "--metrics-port"))
    want = sorted([port, port + 1, port + 2, mport])
    check(sorted(p["containerPort"] for p in lc["ports"]) == want,
          "learner containerPorts are --port %d..%d and --metrics-port %d" % (port, port + 2, mport))
    check(sorted(p["port"] for p in svc["spec"]["ports"]) == want,
          "the Service's ports are the same")
    check(flag_value(acmd, "--learner") == "%s:%d" % (svc["metadata"]["name"], port),
          "actors connect to the Service's DNS name and --port (%s)" % flag_value(acmd, "--learner"))
    check("/var/lib/hpo" in flag_value(lcmd, "--out") and "--resume" in lcmd and
          any(m["mountPath"] == "/var/lib/hpo" for m in lc["volumeMounts"]),
          "the learner writes and resumes in the volume")
    for c in (lc, ac):
        check(any(e.get("configMapRef", {}).get("name") == cm["metadata"]["name"]
                  for e in c["envFrom"]), "%s reads the ConfigMap" % c["name"])
        keys = [v for v in (sts if c is lc else dep)["spec"]["template"]["spec"]["volumes"]
                if v["name"] == "keys"]
        check(keys and keys[0]["secret"]["secretName"] == sec["metadata"]["name"],
              "%s mounts the Secret" % c["name"])
    for var in sorted(set(re.findall(r"\$\{?(HPO_[A-Z_]+)", lcmd + acmd))):
        check(var in cm["data"], "%s comes from the ConfigMap" % var)
    for f in sorted(set(re.findall(r"/keys/([\w.]+)", lcmd + acmd + open(
            os.path.join(src, "deploy", "container", "hpo-probe")).read()))):
        check(f in sec["stringData"], "/keys/%s is a key of the Secret" % f)

    # flags against the programs' --help
    progs = {"hpo-learner": os.path.join(build, "learner", "hpo-learner"),
             "hpo-actor": os.path.join(build, "actor", "hpo-actor"),
             "hpo-status": os.path.join(build, "tools", "hpo-status")}
    helps = {}
    for n, p in progs.items():
        r = subprocess.run([p, "--help"], capture_output=True, text=True, timeout=10)
        helps[n] = r.stdout + r.stderr
    probe = open(os.path.join(src, "deploy", "container", "hpo-probe")).read()
    extra = cm["data"]["HPO_LEARNER_FLAGS"]
    for prog, text in (("hpo-learner", lcmd + " " + extra), ("hpo-actor", acmd),
                       ("hpo-status", probe)):
        unknown = [f for f in flags_of(text) if f not in helps[prog]]
        check(not unknown, "%s's flags in the manifests are in its --help%s" %
              (prog, (": unknown " + " ".join(unknown)) if unknown else ""))

    # the programs and the probe are in the installed set (the image's files)
    with tempfile.TemporaryDirectory() as stage:
        r = subprocess.run(["meson", "install", "-C", build, "--destdir", stage,
                            "--no-rebuild", "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, "meson install into a stage: %s" % r.stderr.strip()[-200:])
        bindirs = [os.path.join(dp) for dp, _, fs in os.walk(stage) if "hpo-learner" in fs]
        installed = set(os.listdir(bindirs[0])) if bindirs else set()
        installed.add("hpo-probe")  # deploy/container/build installs it beside them
        probes = [lc[p]["exec"]["command"][0] for p in ("readinessProbe", "livenessProbe")]
        need = {os.path.basename(p) for p in probes} | {"hpo-learner", "hpo-actor", "hpo-status"}
        check(need <= installed, "probe and commands are installed programs: %s" % sorted(need))
        check(all(p == "/usr/local/bin/hpo-probe" for p in probes),
              "the probes run /usr/local/bin/hpo-probe (the image's prefix)")

    # kubectl's client-side checks, where they work without a cluster
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("note: no kubectl; its checks skipped")
    else:
        r = subprocess.run([kubectl, "kustomize", k8s], capture_output=True, text=True, timeout=60)
        rendered = [d for d in yaml.safe_load_all(r.stdout) if d] if r.returncode == 0 else []
        check(r.returncode == 0 and len(rendered) == 5 and all(
            d["metadata"]["labels"].get("app.kubernetes.io/part-of") == "hpo" for d in rendered),
            "kubectl kustomize renders the 5 objects, labelled%s" % (
                "" if r.returncode == 0 else ": " + r.stderr.strip()[-300:]))
        r = subprocess.run([kubectl, "apply", "--dry-run=client", "--validate=false",
                            "-k", k8s, "-o", "name"], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, KUBECONFIG="/dev/null"))
        if r.returncode == 0:
            check(len(r.stdout.split()) == 5, "kubectl apply --dry-run=client: %s" %
                  " ".join(r.stdout.split()))
        else:
            print("note: kubectl apply --dry-run=client needs a cluster here: " +
                  r.stderr.strip().splitlines()[-1][:200])


if __name__ == "__main__":
    main()
    if failures:
        print("%d failure(s)" % failures, file=sys.stderr)
        sys.exit(1)
    print("all ok")
