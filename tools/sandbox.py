"""The sandbox a submission's kernel runs in: bubblewrap (``bwrap``), the platform's own tool.

For each submission the kernel is started as

    bwrap --unshare-all --unshare-user --uid 65534 --die-with-parent --new-session ... \
          -- prlimit --as=MEM --fsize=... --cpu=... -- python -m ipykernel_launcher -f ...

which gives it

- **its own mount namespace** in which it sees only the system directories (``/usr``, ``/lib``,
  ``/bin``, a few files of ``/etc``), the Python installation, read-only, and a read-only *copy*
  of the instructor's ``normlab`` (made once per grading run, :func:`site`), which comes first on
  its ``PYTHONPATH``. The instructor's checkout, home folder, the other submissions and the
  grader's files are not there at all; ``/tmp`` and the working folder are empty in-memory
  filesystems that vanish with the kernel;
- **no network** (a network namespace with no interface but loopback), no view of other
  processes (PID namespace), a separate hostname and IPC;
- **an unprivileged user** (uid 65534 inside the user namespace, no capabilities);
- **resource limits**: address space (``--memory``; an endless ``append`` ends in MemoryError),
  size of any file it writes, CPU seconds; the grader adds the per-cell and per-notebook time
  limits and kills the whole namespace (``--die-with-parent``) when it is done.

The kernel talks to the grader through Unix sockets (Jupyter's ``ipc`` transport) in one folder,
the *exchange* folder, bound into the sandbox read-write; the grader puts each call's arguments
there and reads the results back as JSON (never a pickle). The folder is deleted afterwards.
"""

from __future__ import annotations

import atexit
import compileall
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

INSIDE_SITE = "/opt/normlab-grader"   # where the read-only normlab copy appears in the sandbox
HOME = "/home/student"                 # the kernel's working folder (an empty tmpfs)
UID = 65534                            # "nobody"

INSTALL_HINT = ("the grader runs each submission in a bubblewrap sandbox, and `bwrap` {why}. "
                "Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`), or on a machine whose "
                "kernel forbids unprivileged user namespaces run the grader as root or in a "
                "container. `--no-sandbox` grades without it (only for your own trusted notebooks).")

COLAB_STUB = '''"""A stand-in for Colab's ``google.colab`` in the grader's sandbox: every name exists and every
call does nothing (``drive.mount`` mounts nothing, ``files.upload`` uploads nothing)."""


class _Nothing:
    def __call__(self, *args, **kwargs):
        return _Nothing()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Nothing()

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False

    def __repr__(self):
        return "<google.colab is not available in the grader>"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _Nothing()
'''
COLAB_MODULES = ("drive", "files", "output", "auth", "widgets", "data_table", "patches", "userdata",
                 "syntax", "runtime", "_message")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@lru_cache(maxsize=None)
def site() -> Path:
    """A read-only-to-be copy of the instructor's ``normlab`` (compiled, no editable install), plus
    the ``google.colab`` stub, in a temporary folder removed when the grader exits."""
    import normlab

    root = Path(tempfile.mkdtemp(prefix="normlab-grader-site-"))
    atexit.register(shutil.rmtree, root, True)
    src = Path(normlab.__file__).resolve().parent
    shutil.copytree(src, root / "normlab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    colab = root / "google" / "colab"  # `google` stays a namespace package (no __init__.py)
    colab.mkdir(parents=True)
    (colab / "__init__.py").write_text(COLAB_STUB)
    for m in COLAB_MODULES:
        (colab / f"{m}.py").write_text("from google.colab import __getattr__  # noqa: F401\n")
    compileall.compile_dir(str(root), quiet=2)
    for p in root.rglob("*"):  # readable by anyone (the sandbox's user), writable by no one
        p.chmod(0o555 if p.is_dir() else 0o444)
    root.chmod(0o555)
    return root


def _pythons() -> list[str]:
    """The folders of this Python installation (a venv and the interpreter it was made from)."""
    out = []
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        for q in {p, os.path.realpath(p)}:
            if q not in out:
                out.append(q)
    return out


def command(exchange: Path, memory_bytes: int, cpu_s: int, file_bytes: int = 200_000_000) -> list[str]:
    """The command that wraps a kernel's command line (it follows a ``--``)."""
    cmd = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(UID), "--gid", str(UID),
           "--die-with-parent", "--new-session", "--hostname", "grader",
           # the empty /tmp first: a Python installation under /tmp (a CI checkout's venv) is bound
           # into it below, instead of being hidden by it
           "--tmpfs", "/tmp"]
    for d in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        cmd += ["--ro-bind-try", d, d]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime",
              "/etc/fonts", "/etc/alternatives", "/etc/mime.types"):
        cmd += ["--ro-bind-try", f, f]
    for p in _pythons():
        cmd += ["--ro-bind-try", os.path.realpath(p), p]
    cmd += ["--ro-bind", str(site()), INSIDE_SITE, "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", HOME, "--bind", str(exchange), str(exchange),
            "--chdir", HOME, "--clearenv"]
    env = {"HOME": HOME, "PYTHONPATH": INSIDE_SITE, "PATH": f"{sys.prefix}/bin:/usr/bin:/bin",
           "MPLBACKEND": "agg", "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": f"{HOME}/.ipython",
           "PYTHONDONTWRITEBYTECODE": "1", "JAX_PLATFORMS": "cpu", "NORMLAB_GRADING": "1",
           "PIP_NO_INDEX": "1", "LANG": "C.UTF-8"}
    for k, v in env.items():
        cmd += ["--setenv", k, v]
    cmd += ["--", "prlimit", f"--as={memory_bytes}", f"--fsize={file_bytes}", f"--cpu={cpu_s}",
            "--core=0", "--"]
    return cmd


@lru_cache(maxsize=None)
def check() -> None:
    """Raise :class:`SandboxUnavailable` with a clear message unless bwrap works here."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(INSTALL_HINT.format(why="is not installed"))
    with tempfile.TemporaryDirectory(prefix="normlab-grader-probe-") as d:
        probe = command(Path(d), 2_000_000_000, 60) + [sys.executable, "-c", "import normlab"]
        try:
            p = subprocess.run(probe, capture_output=True, text=True, timeout=120)
        except Exception as e:  # pragma: no cover - depends on the machine
            raise SandboxUnavailable(INSTALL_HINT.format(why=f"could not run ({e})"))
    if p.returncode != 0:
        why = (p.stderr.strip().splitlines() or ["no message"])[-1]
        raise SandboxUnavailable(INSTALL_HINT.format(why=f"cannot create a sandbox here ({why})"))
