"""An ingest run for the crash tests to SIGKILL: `python ingest_child.py HOME PAUSE [--reset] [--prune] SOURCES...`.

It runs the real `Assistant.ingest` with the real model and announces on stdout when it reaches a point worth
killing it at; PAUSE names the point and, except for `embedding`, it then waits there to be killed:
- `embedding`: after each embedded group ("PROGRESS done total"); it does not wait, the kill lands mid-run;
- `transaction`: inside the manifest transaction, after the rows are written and before the commit;
- `committed`: after the manifest commit, before BM25 is rebuilt and the journal removed;
- `reset`: right after `--reset` has dropped the Chroma collection;
- `none`: run to the end and print "DONE".
The hooks wrap functions the store calls; nothing in the product knows about them.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def announce(what: str) -> None:
    print(what, flush=True)


def wait_to_be_killed(what: str) -> None:
    announce(what)
    time.sleep(600)
    sys.exit(3)  # never reached when the parent does its job


def main(argv: list[str]) -> None:
    home, pause, *rest = argv
    reset, prune = "--reset" in rest, "--prune" in rest
    sources = [a for a in rest if not a.startswith("--")]

    import rag.index.manifest
    import rag.index.writer
    from rag import Assistant, Settings

    if pause == "transaction":
        original = rag.index.manifest.fingerprint_of  # called inside the commit's transaction, after the row writes

        def in_transaction(pairs):
            fp = original(pairs)
            wait_to_be_killed("IN-TRANSACTION")
            return fp

        rag.index.manifest.fingerprint_of = in_transaction
    elif pause == "committed":
        original_after = rag.index.writer.Writer._after_commit  # step 4: leftovers, BM25, publish, journal

        def after_commit(self, *args, **kwargs):
            wait_to_be_killed("COMMITTED")
            return original_after(self, *args, **kwargs)

        rag.index.writer.Writer._after_commit = after_commit
    elif pause == "reset":
        from chromadb.api.client import Client

        original_delete = Client.delete_collection

        def dropped(self, *args, **kwargs):
            original_delete(self, *args, **kwargs)
            wait_to_be_killed("RESET-DROPPED")

        Client.delete_collection = dropped

    def progress(done: int, total: int) -> None:
        announce(f"PROGRESS {done} {total}")

    assistant = Assistant(Settings(home=home, generator="extractive", embed_batch_size=4))
    report = assistant.ingest(sources, reset=reset, prune=prune, progress=progress)
    announce(f"DONE {report.model_dump_json()}")


if __name__ == "__main__":
    main(sys.argv[1:])
