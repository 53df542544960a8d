"""A real one-node SLURM cluster on 127.0.0.1 for the profile tests: munge, slurmctld, slurmd,
and for job accounting MariaDB and slurmdbd.

Everything lives in a temporary directory but ``slurm.conf`` (and ``slurmdbd.conf``), which go
to ``/etc/slurm/``: Snakemake's SLURM job-step plugin clears ``SLURM_*`` variables
(``SLURM_CONF`` among them) before its ``srun``, so job steps only find the default path. Files
already there are set aside and put back. Every daemon is started here, its PID recorded, and
stopped by that PID, also when a test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SLURM_CONF = Path("/etc/slurm/slurm.conf")
SLURMDBD_CONF = SLURM_CONF.with_name("slurmdbd.conf")
#: In start order; stopped in reverse.
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
ACCOUNTING_DAEMONS = ("mariadbd", "slurmdbd")
#: The account the accounting cluster's jobs are charged to.
ACCOUNT = "semmol"
MARIADB_PORT, SLURMDBD_PORT = 16819, 16820


def missing_prerequisites(*, accounting: bool = False) -> str | None:
    """Why a local cluster (with job accounting: ``accounting``) cannot start here, or None."""
    needed = [name for name in DAEMONS if accounting or name not in ACCOUNTING_DAEMONS]
    needed += ["sbatch", "squeue"] + (
        ["sacct", "sacctmgr", "mariadb-install-db", "mariadb"] if accounting else []
    )
    absent = [name for name in needed if shutil.which(name) is None]
    if absent:
        packages = "slurm-wlm munge" + (" slurmdbd mariadb-server" if accounting else "")
        return f"needs SLURM and munge ({', '.join(absent)} not found): apt-get install {packages}"
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
        directory: where keys, state, spool, logs, PID files (and the database) go.
        cpus: CPUs the node offers.
        accounting: keep job accounting in slurmdbd over MariaDB (``sacct`` answers), with the
            account :data:`ACCOUNT` for root; default False (``AccountingStorageType=none``).
    """

    def __init__(self, directory: Path, *, cpus: int, accounting: bool = False):
        self.directory, self.cpus, self.accounting = Path(directory), cpus, accounting
        self.pids: dict[str, int] = {}
        self._servers: dict[str, subprocess.Popen] = {}
        self._backups: dict[Path, Path] = {}

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
        if self.accounting:
            self._start_database()
            self._write_etc(SLURMDBD_CONF, self._slurmdbd_conf(), mode=0o600)
            self._run_daemon("slurmdbd", ["slurmdbd"])
        self._write_etc(SLURM_CONF, self._slurm_conf())
        if self.accounting:
            # the cluster must be known to slurmdbd before slurmctld registers with it
            self._sacctmgr("add", "cluster", "semmoltest")
        self._run_daemon("slurmctld", ["slurmctld", "-c"])
        self._run_daemon("slurmd", ["slurmd"])
        if self.accounting:
            self._sacctmgr("add", "account", ACCOUNT)
            self._sacctmgr("add", "user", "root", f"account={ACCOUNT}")
        self._wait_for_idle_node()

    def _start_database(self) -> None:
        """MariaDB on 127.0.0.1 with a user for slurmdbd (root reaches it through its socket)."""
        data, socket = self.path("mysql"), self.path("run/mariadb.sock")
        subprocess.run(
            ["mariadb-install-db", "--user=root", f"--datadir={data}", "--skip-test-db"],
            check=True, capture_output=True,
        )  # fmt: skip
        server = subprocess.Popen(
            [
                "mariadbd", "--no-defaults", "--user=root", f"--datadir={data}", f"--socket={socket}",
                f"--port={MARIADB_PORT}", "--bind-address=127.0.0.1", f"--pid-file={self.path('run/mariadbd.pid')}",
                f"--log-error={self.path('log/mariadbd.log')}",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self._servers["mariadbd"], self.pids["mariadbd"] = server, server.pid
        sql = (
            "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
            "GRANT ALL ON semmol_acct.* TO 'slurm'@'127.0.0.1';"
        )
        deadline = time.monotonic() + 60
        while subprocess.run(["mariadb", f"--socket={socket}", "-e", sql], capture_output=True).returncode:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"MariaDB did not start; see {self.path('log/mariadbd.log')}")
            time.sleep(0.5)

    def _slurmdbd_conf(self) -> str:
        return f"""AuthType=auth/munge
AuthInfo=socket={self.path("munge/munge.sock")}
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort={SLURMDBD_PORT}
SlurmUser=root
PidFile={self.path("run/slurmdbd.pid")}
LogFile={self.path("log/slurmdbd.log")}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={MARIADB_PORT}
StorageUser=slurm
StoragePass=slurm
StorageLoc=semmol_acct
"""

    def _sacctmgr(self, *command: str) -> None:
        deadline = time.monotonic() + 30
        while True:  # slurmdbd takes a moment to listen
            result = subprocess.run(["sacctmgr", "-i", *command], capture_output=True, text=True)
            if result.returncode == 0 or "already exists" in result.stdout + result.stderr:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"sacctmgr {' '.join(command)}: {result.stdout}{result.stderr}")
            time.sleep(0.5)

    def _write_etc(self, path: Path, text: str, *, mode: int = 0o644) -> None:
        """Write a file under /etc/slurm, setting aside one that is already there."""
        if path.exists():
            backup = path.with_name(f"{path.name}.before-semmol-test")
            path.rename(backup)
            self._backups[path] = backup
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    def _slurm_conf(self) -> str:
        if self.accounting:
            accounting = (
                f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\n"
                f"AccountingStoragePort={SLURMDBD_PORT}\nJobAcctGatherType=jobacct_gather/linux\n"
                # for slurmdbd connections the munge socket is read from here, not AuthInfo
                f"AccountingStoragePass={self.path('munge/munge.sock')}"
            )
        else:
            accounting = (
                "AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none"
            )
        return f"""ClusterName=semmoltest
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
{accounting}
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""

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
        """Stop every daemon started here (jobs die with slurmd) and put /etc/slurm back."""
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            if name in self._servers:  # started here, not forked away: ours to reap
                self._servers.pop(name).wait()
        for path in (SLURM_CONF, SLURMDBD_CONF):
            if path in self._backups:
                self._backups.pop(path).rename(path)
            elif path.exists() and self.directory.as_posix() in path.read_text():
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie left by a daemon we started (not ours to reap) counts as gone
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "\nState:\tZ" not in status.read_text()


@contextmanager
def running_cluster(directory: Path, *, accounting: bool = False) -> Iterator[LocalSlurm]:
    """A started :class:`LocalSlurm` over the machine's CPUs, stopped on exit. Skips the test
    where SLURM is not installed or the tests do not run as root, saying so; in CI
    (``CI=true``; ``.ci/run`` installs the packages) a missing prerequisite fails instead."""
    problem = missing_prerequisites(accounting=accounting)
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the SLURM tests: {problem}")
        pytest.skip(problem)
    cluster = LocalSlurm(directory, cpus=os.cpu_count() or 2, accounting=accounting)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


#: Rules whose profile sizes may exceed the test node's CPUs.
SIZED_RULES = ("conformers", "pretrain", "centers", "finetune", "baseline")


def snakemake_slurm(
    workdir: Path,
    config: Path,
    *targets: str,
    cpus: int,
    account: str | None = None,
    resources: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> str:
    """Run ``targets`` in ``workdir`` (made if need be) through profiles/slurm as a user would, with
    the edits docs/slurm.md describes passed as flags: the account (none: ``--slurm-no-account``)
    and partition, and job sizes that fit the node (``cpus`` CPUs; a job asking for more would
    pend forever). ``resources`` are further ``--set-resources`` entries."""
    workdir.mkdir(exist_ok=True)
    sizes = [f"{rule}:cpus_per_task={cpus}" for rule in SIZED_RULES]
    account_flags = ["--slurm-no-account"] if account is None else []
    # --default-resources replaces the profile's list, so its other entries are repeated
    defaults = ["slurm_partition=debug", "runtime=120", "mem_mb=4000", "cpus_per_task=1"]
    defaults += [f"slurm_account={account}"] if account else []
    command = [
        "snakemake", *targets, "--snakefile", str(ROOT / "workflow/Snakefile"), "--directory", str(workdir),
        "--configfile", str(config), "--profile", str(ROOT / "profiles/slurm"),
        *account_flags, "--default-resources", *defaults,
        "--set-resources", *sizes, *resources, *extra,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    return output


def submitted_jobs(output: str) -> dict[str, list[int]]:
    """SLURM job ids per rule, from Snakemake's submission lines."""
    jobs: dict[str, list[int]] = {}
    for job_id, rule in re.findall(
        r"submitted with SLURM jobid (\d+) \(log: \S+/slurm_logs/rule_(\w+)/", output
    ):
        jobs.setdefault(rule, []).append(int(job_id))
    return jobs
