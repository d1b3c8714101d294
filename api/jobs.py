"""Background jobs: batch pre-sorting and history import (a worker thread), retraining (a subprocess).

A job and all its letters are written in one transaction before the request is answered (202), so an
acknowledged batch survives a crash; the worker resumes unfinished jobs when the service starts again.
Letters wait in the queue sealed (identity hashes and masked forms only) and are dropped from it once
processed. Retraining runs ``python -m api.retrain`` in a child process, never inside a request or the
service's own threads' CPU time; its artefacts go to a new folder and are activated by a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from triage.normalise import mask_pii
from triage.store import UNFINISHED_JOB_STATUSES

from .errors import Conflict
from .settings import PROJECT_DIR, Principal

log = logging.getLogger("api.jobs")

QUEUED_KINDS = ("presort", "import")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _alive(pid) -> bool:
    """Whether process ``pid`` runs on this machine (the service's workers share one machine and one store)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_job_id() -> str:
    return f"J{uuid.uuid4().hex[:20]}"


class JobRunner:
    """One worker thread for queued jobs (in order), one thread watching a retraining subprocess."""

    def __init__(self, service) -> None:
        self.service = service
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retrain: threading.Thread | None = None
        self._retrain_proc: subprocess.Popen | None = None
        self._retrain_lock = threading.Lock()
        self._cancelled: set[str] = set()

    # -- lifecycle --------------------------------------------------------------------------------
    def lead(self) -> None:
        """Start working the queue (the process that leads the service's workers, see ``api.service.Leadership``)."""
        store = self.service.store
        for job in store.unfinished_jobs(("retrain",)):
            pid = (job.get("params") or {}).get("worker_pid")
            if pid != os.getpid() and _alive(pid):
                continue   # watched by another worker of this service
            # its process died with the server that started it
            store.update_job(job["id"], status="interrupted", finished_at=_now(),
                             error="the service stopped while retraining; start it again")
        resumed = store.unfinished_jobs(QUEUED_KINDS)
        if resumed:
            log.info("resuming %d unfinished job(s)", len(resumed))
        self._thread = threading.Thread(target=self._run, name="job-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        proc = self._retrain_proc
        if proc is not None and proc.poll() is None:
            proc.terminate()

    def notify(self) -> None:
        self._wake.set()

    # -- queued jobs ------------------------------------------------------------------------------
    def submit(self, kind: str, principal: Principal, sealed: list, params: dict) -> dict:
        job = self.service.store.create_job(new_job_id(), kind, principal.actor, principal.role, params,
                                            [(s.id, s.to_json()) for s in sealed])
        self.service.store.add_audit(principal.actor, principal.role, f"job.{kind}", job["id"],
                                     {"letters": len(sealed), **params})
        self.notify()
        return job

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                jobs = self.service.store.unfinished_jobs(QUEUED_KINDS)
            except Exception:
                log.exception("cannot read the job queue; retrying")
                jobs = []
            if not jobs:
                self._wake.wait(2.0)
                self._wake.clear()
                continue
            for job in jobs:
                if self._stop.is_set():
                    return
                try:
                    self._process(job)
                except Exception:
                    log.exception("job %s stopped on an error; it resumes later", job["id"])
                    self._stop.wait(2.0)

    def _process(self, job: dict) -> None:
        store = self.service.store
        if job["status"] == "queued":
            store.update_job(job["id"], status="running", started_at=_now())
        chunk = self.service.settings.job_chunk
        while not self._stop.is_set():
            items = store.pending_items(job["id"], chunk)
            if not items:
                break
            if job["kind"] == "presort":
                self._presort(job, items)
            else:
                self._import(job, items)
        if self._stop.is_set():
            return
        current = store.get_job(job["id"])
        result = {"stored": current["done"], "failed": current["failed"]}
        if job["kind"] == "import":
            # Fitting reads only the store and swaps in a new router at the end: in-flight suggestions keep
            # the old one, so this runs outside the lock (it can take a while on a long history).
            self.service.triage.refresh_history(store)
        self.service.save_index()
        store.update_job(job["id"], status="done", finished_at=_now(), result=result)
        log.info("job %s (%s) done: %s", job["id"], job["kind"], result)

    def _presort(self, job: dict, items: list[dict]) -> None:
        from .service import Sealed

        service, store = self.service, self.service.store
        sealed = [Sealed.from_json(i["letter"]) for i in items]
        prepared = service.prepare(sealed)
        principal = Principal(actor=job["actor"], role=job["role"])
        k = int((job.get("params") or {}).get("k", 5))
        for item, s, p in zip(items, sealed, prepared):
            try:
                out = service.submit(s, principal, k, prepared=p, job_id=job["id"])
                store.finish_item(job["id"], item["seq"], "done", created=out["created"],
                                  suggestion_id=out["suggestion_id"])
            except Conflict as exc:
                store.finish_item(job["id"], item["seq"], "conflict", error=exc.message)
            except Exception as exc:
                log.exception("letter %d of job %s failed", item["seq"], job["id"])
                store.finish_item(job["id"], item["seq"], "failed", error=f"internal error ({type(exc).__name__})")

    def _import(self, job: dict, items: list[dict]) -> None:
        """History letters: stored and indexed in one transaction per chunk, no suggestion."""
        from .service import Sealed

        service, store = self.service, self.service.store
        sealed = [Sealed.from_json(i["letter"]) for i in items]
        prepared = service.prepare(sealed)
        with service.lock:
            results = store.add_cases([service.record(p, s) for p, s in zip(prepared, sealed)],
                                      service.triage.embedder_key)
            new = [(pk, p) for (pk, _, created), p in zip(results, prepared) if created]
            if new:
                service.index.add([pk for pk, _ in new], np.stack([p.vector for _, p in new]),
                                  np.stack([p.signature for _, p in new]))
                service._dirty = True
        for item, (pk, _, created) in zip(items, results):
            store.finish_item(job["id"], item["seq"], "done", case_pk=pk, created=created)

    def _cancel_requested(self, job_id: str) -> bool:
        try:
            return self.service.store.get_job(job_id)["status"] == "cancelling"
        except Exception:   # a read that failed is asked again half a second later
            return False

    def results(self, job_id: str, offset: int, limit: int) -> list[dict]:
        """Items of a job with their suggestions (presort) — what a client collects after the progress."""
        store = self.service.store
        items = store.job_items(job_id, offset, limit)
        for item in items:
            sug = store.get_suggestion(item["suggestion_id"]) if item.get("suggestion_id") else None
            item["suggestion"] = {**sug["payload"], "suggestion_id": sug["id"]} if sug else None
        return items

    # -- retraining ---------------------------------------------------------------------------------
    def retrain(self, principal: Principal, params: dict) -> dict:
        with self._retrain_lock:
            store = self.service.store
            if store.unfinished_jobs(("retrain",)):
                raise Conflict("a retraining job is already running; wait for it (GET /v1/jobs/{id})", field=None)
            job_id = new_job_id()
            out = Path(self.service.settings.retrain_dir) / job_id
            params = {**params, "out": str(out), "worker_pid": os.getpid()}
            job = store.create_job(job_id, "retrain", principal.actor, principal.role, params, [])
            store.add_audit(principal.actor, principal.role, "job.retrain", job_id, params)
            self._retrain = threading.Thread(target=self._run_retrain, args=(job_id, out, params),
                                             name="retrain", daemon=True)
            self._retrain.start()
            return job

    def cancel(self, job_id: str) -> dict:
        """Stop a retraining job: its child process is terminated, its partial output left unused."""
        store = self.service.store
        job = store.get_job(job_id)
        if job["kind"] != "retrain":
            raise Conflict("only retraining jobs can be cancelled; a batch or import always completes",
                           field="job_id")
        if job["status"] not in ("queued", "running", "cancelling"):
            raise Conflict(f"the job is already {job['status']}", field="job_id")
        self._cancelled.add(job_id)
        # the worker that watches the training process may be another one: it reads this status (_run_retrain)
        store.update_job(job_id, status="cancelling")
        proc = self._retrain_proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
        deadline = time.time() + 30
        while time.time() < deadline and store.get_job(job_id)["status"] in UNFINISHED_JOB_STATUSES:
            time.sleep(0.1)
        return store.get_job(job_id)

    def _run_retrain(self, job_id: str, out: Path, params: dict) -> None:
        store, settings = self.service.store, self.service.settings
        out.parent.mkdir(parents=True, exist_ok=True)
        logfile = out.parent / f"{job_id}.log"
        cmd = [sys.executable, "-m", "api.retrain", "--out", str(out)]
        embedder = params.get("embedder") or settings.retrain_embedder or \
            (self.service.triage.manifest.get("embedder") or {}).get("name")
        if embedder:
            cmd += ["--embedder", embedder]
        if params.get("small"):
            cmd.append("--small")
        env = dict(os.environ)
        if params.get("include_decisions", True):
            env["TRIAGE_RETRAIN_STORE"] = self.service.store.url  # not on the command line: it may hold a password
        store.update_job(job_id, status="running", started_at=_now())
        started = time.time()
        if job_id in self._cancelled:
            store.update_job(job_id, status="cancelled", finished_at=_now(), error="cancelled by an admin")
            return
        outfile = out.parent / f"{job_id}.out"
        try:
            with open(logfile, "w", encoding="utf-8") as log_fh, open(outfile, "w+", encoding="utf-8") as out_fh:
                proc = subprocess.Popen(cmd, cwd=str(PROJECT_DIR), env=env, stdout=out_fh,
                                        stderr=log_fh, stdin=subprocess.DEVNULL, text=True)
                self._retrain_proc = proc
                while proc.poll() is None:
                    if job_id in self._cancelled or self._cancel_requested(job_id):
                        self._cancelled.add(job_id)
                        proc.terminate()
                        proc.wait()
                        break
                    time.sleep(0.5)
                code = proc.returncode
                out_fh.seek(0)
                stdout = out_fh.read()
            outfile.unlink(missing_ok=True)
        except Exception as exc:
            store.update_job(job_id, status="failed", finished_at=_now(), error=f"could not start training: {exc}")
            return
        finally:
            self._retrain_proc = None
        if code == 0:
            try:
                summary = json.loads(stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                summary = {}
            summary.update({"seconds": round(time.time() - started), "activate":
                            f"restart the service with TRIAGE_MODELS_DIR={out}"})
            store.update_job(job_id, status="done", finished_at=_now(), done=1, total=1, result=summary)
            log.info("retraining job %s done: version %s", job_id, summary.get("version"))
        elif job_id in self._cancelled:
            store.update_job(job_id, status="cancelled", finished_at=_now(), error="cancelled by an admin")
            log.info("retraining job %s cancelled", job_id)
        else:
            tail = ""
            try:
                lines = [ln for ln in logfile.read_text(encoding="utf-8").splitlines() if ln.strip()]
                tail = lines[-1] if lines else ""
            except OSError:
                pass
            store.update_job(job_id, status="failed", finished_at=_now(), failed=1, total=1,
                             error=mask_pii(f"training exited with status {code}: {tail}")[:2000])
            log.warning("retraining job %s failed (status %s); see %s", job_id, code, logfile)
