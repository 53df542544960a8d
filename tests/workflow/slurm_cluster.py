"""A real one-node SLURM cluster on 127.0.0.1 for the profile tests: munge, slurmctld, slurmd.

Everything lives in a temporary directory but ``slurm.conf``, which goes to
``/etc/slurm/slurm.conf``: Snakemake's SLURM job-step plugin clears ``SLURM_*`` variables
(``SLURM_CONF`` among them) before its ``srun``, so job steps only find the default path. A
``slurm.conf`` already there is set aside and put back. Every daemon is started here, its PID
recorded, and stopped by that PID, also when a test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("munged", "slurmctld", "slurmd")


def missing_prerequisites() -> str | None:
    """Why a local cluster cannot start here, or None."""
    absent = [name for name in (*DAEMONS, "sbatch", "squeue") if shutil.which(name) is None]
    if absent:
        return f"needs SLURM and munge ({', '.join(absent)} not found): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "starts slurmctld and slurmd as root (they run jobs as the submitting user)"
    return None


def _memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        total_kb = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
    return total_kb // 1024 - 1024  # leave the OS a gigabyte


class LocalSlurm:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent).

    Args:
        directory: where keys, state, spool, logs and PID files go.
        cpus: CPUs the node offers.
    """

    def __init__(self, directory: Path, *, cpus: int):
        self.directory, self.cpus = Path(directory), cpus
        self.pids: dict[str, int] = {}
        self._conf_backup: Path | None = None

    def path(self, name: str) -> Path:
        return self.directory / name

    def start(self) -> None:
        for sub in ("munge", "state", "spool", "log", "run"):
            self.path(sub).mkdir(parents=True, exist_ok=True)
        key = self.path("munge/munge.key")
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self.path("munge").chmod(0o700)
        self._run_daemon(
            "munged",
            [
                "munged",
                "--force",
                f"--key-file={key}",
                f"--socket={self.path('munge/munge.sock')}",
                f"--pid-file={self.path('run/munged.pid')}",
                f"--log-file={self.path('log/munged.log')}",
                f"--seed-file={self.path('munge/seed')}",
            ],  # fmt: skip
        )
        self._write_conf()
        self._run_daemon("slurmctld", ["slurmctld", "-c"])
        self._run_daemon("slurmd", ["slurmd"])
        self._wait_for_idle_node()

    def _write_conf(self) -> None:
        if SLURM_CONF.exists():
            self._conf_backup = SLURM_CONF.with_name("slurm.conf.before-semmol-test")
            SLURM_CONF.rename(self._conf_backup)
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(
            f"""ClusterName=semmoltest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.path("munge/munge.sock")}
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation={self.path("state")}
SlurmdSpoolDir={self.path("spool")}
SlurmctldPidFile={self.path("run/slurmctld.pid")}
SlurmdPidFile={self.path("run/slurmd.pid")}
SlurmctldLogFile={self.path("log/slurmctld.log")}
SlurmdLogFile={self.path("log/slurmd.log")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        )

    def _run_daemon(self, name: str, command: list[str]) -> None:
        """Start a daemon that forks into the background, and record its PID from its PID file."""
        pid_file = self.path(f"run/{name}.pid")
        pid_file.unlink(missing_ok=True)
        subprocess.run(
            command, check=True, capture_output=True, env={**os.environ, "SLURM_CONF": str(SLURM_CONF)}
        )
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} wrote no PID file; see {self.path('log')}")
            time.sleep(0.1)
        self.pids[name] = int(pid_file.read_text())

    def _wait_for_idle_node(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the node never became idle (state '{state}'); see {self.path('log')}")

    def stop(self) -> None:
        """Stop every daemon started here (jobs die with slurmd) and put slurm.conf back."""
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        SLURM_CONF.unlink(missing_ok=True)
        if self._conf_backup is not None:
            self._conf_backup.rename(SLURM_CONF)
            self._conf_backup = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie left by a daemon we started (not ours to reap) counts as gone
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()
