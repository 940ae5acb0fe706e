"""Fault injection at file events (benchmarks/fault_injection.py), loaded by every Python process
started with this folder on ``PYTHONPATH`` (Python imports ``sitecustomize`` at start-up): the
Snakemake process and each job's script. Nothing in the project knows about it, so the same
faults hit any version of the code.

``DELLA_FAULT="ACTION:WHEN:OP:PATTERN"``

* ACTION ``kill``: SIGKILL this process's whole process group (Snakemake and its jobs, as a
  scheduler or an out-of-memory killer would); ``raise``: raise ``InjectedFault`` (a RuntimeError)
  in the process doing OP;
* WHEN ``before`` | ``after`` the file operation;
* OP ``replace`` (``os.replace`` / ``os.rename``: a file renamed into place, PATTERN matches the
  destination) | ``unlink`` (``os.unlink`` / ``os.remove``);
* PATTERN an ``fnmatch`` pattern on the path as the code passes it (``*`` also matches ``/``).

``DELLA_FAULT_COUNT=N`` fires at the N-th matching operation of a process (default 1; later ones
pass); ``DELLA_FAULT_MARKER=FILE`` appends one line per firing (the spec, the path, the pid).
"""
import fnmatch
import os
import signal

_SPEC = os.environ.get("DELLA_FAULT")


class InjectedFault(RuntimeError):
    pass


def _install(spec: str) -> None:
    action, when, op, pattern = spec.split(":", 3)
    if action not in ("kill", "raise") or when not in ("before", "after") or op not in ("replace", "unlink"):
        raise ValueError(f"DELLA_FAULT={spec!r}: expected kill|raise:before|after:replace|unlink:PATTERN")
    fire_at = int(os.environ.get("DELLA_FAULT_COUNT", "1"))
    seen = [0]

    def fire(path: str) -> None:
        marker = os.environ.get("DELLA_FAULT_MARKER")
        if marker:
            with open(marker, "a") as fh:
                fh.write(f"{spec} {path} pid {os.getpid()}\n")
        if action == "kill":
            os.killpg(os.getpgid(0), signal.SIGKILL)
        raise InjectedFault(f"fault injected ({spec}) at {path}")

    def wrap(original, path_index):
        def wrapped(*args, **kwargs):
            path = os.fspath(args[path_index])
            hit = fnmatch.fnmatch(path, pattern)
            if hit:
                seen[0] += 1
                hit = seen[0] == fire_at
            if hit and when == "before":
                fire(path)
            result = original(*args, **kwargs)
            if hit and when == "after":
                fire(path)
            return result
        return wrapped

    if op == "replace":
        os.replace, os.rename = wrap(os.replace, 1), wrap(os.rename, 1)
    else:
        os.unlink, os.remove = wrap(os.unlink, 0), wrap(os.remove, 0)


if _SPEC:
    _install(_SPEC)
