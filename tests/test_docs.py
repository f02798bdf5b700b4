#!/usr/bin/python3
"""test_docs.py - the commands docs/deploy.md shows work as written.

    test_docs.py SOURCE_DIR BUILD_DIR

Every command of the page's ```sh blocks (continuation lines joined,
comments dropped) is checked by what it runs:
- deploy/*: the script exists and is executable, `--help` prints its usage
  (no line of code), every --flag the command uses is in it;
  deploy/k8s/overlay runs for real (into a temporary directory instead of
  the page's), and the `kubectl apply -k`/`delete -k` of that directory
  renders with `kubectl kustomize`;
- hpo-*: every --flag is in the program's --help;
- meson: every option is in `meson SUBCOMMAND --help` (`meson install
  --prefix` is not), and the page's install command is run: `meson setup
  --prefix /opt/hpo` of a fresh build directory, then `meson install
  --destdir` of the build into a temporary directory, whose opt/hpo/bin
  holds the programs;
- sbatch: the script comes after every component's options (what follows
  it goes to the learner, so no ':' there), the -o directory exists in a
  fresh clone (git ls-files), and the sbatch file asks for --time and
  memory; with a Slurm controller answering, `sbatch --test-only` too.
Commands for a cluster (kubectl exec/scale, podman, scancel...) are listed
as not run.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

failures = 0


def check(cond, what):
    global failures
    print(("ok: " if cond else "FAIL: ") + what, file=sys.stdout if cond else sys.stderr)
    if not cond:
        failures += 1
    return cond


def commands(md):
    out = []
    for block in re.findall(r"```sh\n(.*?)```", md, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            for part in re.split(r"\s*&&\s*", line):
                if part:
                    out.append(part)
    # meson commands in the prose's code spans too (the SSH section's install)
    for span in re.findall(r"`(meson [^`]+)`", md):
        for part in re.split(r"\s*&&\s*", " ".join(span.split())):
            if part.startswith("meson ") and part not in out:
                out.append(part)
    return out


def help_text(argv):
    try:
        r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return 124, "%s --help: no answer within 60 s" % argv[0]
    return r.returncode, r.stdout + r.stderr


def flags(words):
    return [w.split("=")[0] for w in words if re.match(r"^--[a-z]", w)]


def main():
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    md = open(os.path.join(src, "docs", "deploy.md")).read()
    cmds = commands(md)
    check(len(cmds) >= 15, "%d commands in docs/deploy.md's sh blocks" % len(cmds))
    tracked = subprocess.run(["git", "-C", src, "ls-files"], capture_output=True,
                             text=True).stdout.split()
    progs = {"hpo-learner": "learner/hpo-learner", "hpo-actor": "actor/hpo-actor",
             "hpo-status": "tools/hpo-status", "hpo-keygen": "tools/hpo-keygen"}
    work = tempfile.mkdtemp(prefix="test_docs.")
    overlays = {}
    env = dict(os.environ, HPO_KEYGEN=os.path.join(build, "tools", "hpo-keygen"))
    try:
        for cmd in cmds:
            w = shlex.split(cmd)
            w = [x for x in w if not re.match(r"^[A-Z_]+=", x)] if w and re.match(r"^[A-Z_]+=", w[0]) else w
            prog = w[0]
            if prog.startswith("deploy/"):
                path = os.path.join(src, prog)
                if not check(os.access(path, os.X_OK), "%s exists and runs" % prog):
                    continue
                rc, text = help_text([path])
                check(rc == 0 and ("usage" in text.lower() or prog in text),
                      "%s --help prints its usage" % prog)
                check(not re.search(r"^\s*(set -[a-z]|cd \"?\$|[a-z_]+=\S*$)", text, re.M),
                      "%s --help prints no line of code" % prog)
                unknown = [f for f in flags(w[1:]) if f not in text]
                if prog == "deploy/run":  # its flags are deploy/local's
                    unknown = [f for f in unknown if f not in help_text([os.path.join(src, "deploy/local")])[1]]
                check(not unknown, "%s: its flags are in its --help: %s%s" % (
                    cmd[:80], " ".join(flags(w[1:])), (" (unknown " + " ".join(unknown) + ")") if unknown else ""))
                if prog == "deploy/k8s/overlay":
                    d = os.path.join(work, "overlay%d" % len(overlays))
                    r = subprocess.run([path, d] + w[2:], capture_output=True, text=True, env=env, timeout=60)
                    check(r.returncode == 0, "run: %s -> %s" % (cmd[:90], (r.stdout + r.stderr).strip()[:160]))
                    overlays[w[1]] = d
            elif prog in progs:
                rc, text = help_text([os.path.join(build, progs[prog])])
                unknown = [f for f in flags(w[1:]) if f not in text]
                check(not unknown, "%s: flags in %s --help%s" % (cmd[:80], prog, (": unknown " + " ".join(unknown)) if unknown else ""))
            elif prog == "meson":
                sub = w[1]
                rc, text = help_text(["meson", sub])
                unknown = [f for f in flags(w[2:]) if f not in text]
                check(rc == 0 and not unknown, "%s: options in meson %s --help%s" % (
                    cmd, sub, (": unknown " + " ".join(unknown)) if unknown else ""))
                if sub == "setup" and "--prefix" in w:
                    prefix = w[w.index("--prefix") + 1]
                    d = os.path.join(work, "build-opt")
                    r = subprocess.run(["meson", "setup", "--prefix", prefix, d, src, "-Dtests=false"],
                                       capture_output=True, text=True, timeout=300)
                    check(r.returncode == 0, "run: meson setup --prefix %s (a fresh build directory)%s" % (
                        prefix, "" if r.returncode == 0 else ": " + r.stdout[-300:]))
                    r = subprocess.run(["meson", "introspect", d, "--installed"],
                                       capture_output=True, text=True, timeout=60)
                    check(os.path.join(prefix, "bin", "hpo-learner") in r.stdout,
                          "that build installs %s/bin/hpo-learner" % prefix)
                if sub == "install":
                    # the install itself: the suite's build (prefix /usr/local)
                    # into a temporary DESTDIR
                    stage = os.path.join(work, "stage")
                    r = subprocess.run(["meson", "install", "-C", build, "--destdir", stage,
                                        "--no-rebuild", "--quiet"],
                                       capture_output=True, text=True, timeout=600)
                    bindir = [dp for dp, _, fs in os.walk(stage) if "hpo-learner" in fs]
                    have = sorted(os.listdir(bindir[0])) if bindir else []
                    check(r.returncode == 0 and {"hpo-learner", "hpo-actor", "hpo-status"} <= set(have),
                          "meson install --destdir (the suite's build): %s holds %s%s" % (
                              bindir[0][len(stage):] if bindir else "no bin", " ".join(have[:6]),
                              "" if r.returncode == 0 else ": " + (r.stdout + r.stderr)[-300:]))
            elif prog == "sbatch":
                script = next((i for i, x in enumerate(w) if x.endswith(".sbatch")), None)
                if not check(script is not None, "%s: names an sbatch file" % cmd[:60]):
                    continue
                check(":" not in w[script + 1:], "%s: every component's options before the script" % cmd[:100])
                if "-o" in w:
                    outdir = os.path.dirname(w[w.index("-o") + 1])
                    check(any(t.startswith(outdir + "/") for t in tracked),
                          "sbatch -o %s/...: %s/ exists in a fresh clone" % (outdir, outdir))
                body = open(os.path.join(src, w[script])).read()
                check(re.search(r"^#SBATCH --time=", body, re.M) and
                      re.search(r"^#SBATCH --mem(-per-cpu)?=", body, re.M),
                      "%s asks for a time limit and memory" % w[script])
                if shutil.which("scontrol") and subprocess.run(
                        ["scontrol", "ping"], capture_output=True, timeout=10).returncode == 0:
                    r = subprocess.run(["sbatch", "--test-only"] + w[1:], capture_output=True,
                                       text=True, cwd=src, timeout=30)
                    check(r.returncode == 0, "sbatch --test-only %s: %s" % (cmd[7:80], r.stderr.strip()[-200:]))
            elif prog == "kubectl" and "--" in w and w[w.index("--") + 1] in progs:
                inner = w[w.index("--") + 1:]
                rc, text = help_text([os.path.join(build, progs[inner[0]])])
                unknown = [f for f in flags(inner[1:]) if f not in text]
                check(not unknown, "%s: flags in %s --help%s" % (cmd[:80], inner[0], (": unknown " + " ".join(unknown)) if unknown else ""))
                print("note: the pod is not run here: " + cmd[:100])
            elif prog == "kubectl" and len(w) >= 3 and w[2] == "-k" and w[1] in ("apply", "delete"):
                d = overlays.get(w[3])
                if not shutil.which("kubectl"):
                    print("note: no kubectl; not rendered: " + cmd)
                elif check(d is not None, "%s: its directory is made by a deploy/k8s/overlay command above" % cmd):
                    r = subprocess.run(["kubectl", "kustomize", d], capture_output=True, text=True, timeout=60)
                    check(r.returncode == 0, "kubectl kustomize %s renders (for: %s)%s" % (
                        w[3], cmd, "" if r.returncode == 0 else ": " + r.stderr[-200:]))
            else:
                print("note: not run here (needs a cluster or a registry): " + cmd[:100])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    if failures:
        print("%d failure(s)" % failures, file=sys.stderr)
        sys.exit(1)
    print("all ok")
