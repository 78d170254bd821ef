"""python tests/forked_side.py keras|torch: a process that imports one side's framework once, then
runs `python -m MODULE ARGS` for each request (MODULE one of that side's: {side}_parity.side,
{side}_impl.train), each in a child forked from it, in the repository the request names (this one
or a patched copy of it: tests/conftest.py's side_runs).

A side started as its own process spends most of a short run (an audit, a probe) importing its
framework: 3-5 s of a 4-6 s audit. A forked child starts with the framework imported and nothing of
the project's: it imports the requested repository's keras_impl/torch_impl, *_parity and shared
afresh, as the process would, and runs MODULE as `python -m` runs it (runpy, as __main__). Only the
framework (TensorFlow, the default Keras backend, or torch and torchvision) is imported before the
fork; nothing has run on it, so the child's framework is as fresh as a new process's.

Protocol, one JSON line each way: [root, module, args, stdout file, stderr file] in, the exit
status out.
"""

import json
import os
import sys

del sys.path[0]  # this directory: the child imports the requested repository's modules only
side = sys.argv[1]
if side == "keras":
    import keras  # noqa: F401  (TensorFlow, Keras's default backend)
else:
    import torch  # noqa: F401
    import torchvision  # noqa: F401

print("ready", flush=True)
for line in sys.stdin:
    root, module, args, stdout, stderr = json.loads(line)
    pid = os.fork()
    if pid == 0:  # `python -m MODULE ARGS` in the requested repository
        try:
            for fd, path in ((1, stdout), (2, stderr)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
            os.chdir(root)
            sys.path.insert(0, root)
            sys.argv = [module, *args]
            import runpy

            runpy.run_module(module, run_name="__main__", alter_sys=True)
            status = 0
        except SystemExit as exit_:  # its exit status (a usage error: 2), as the process's
            if exit_.code is None or isinstance(exit_.code, int):
                status = exit_.code or 0
            else:
                print(exit_.code, file=sys.stderr)
                status = 1
        except BaseException:
            import traceback

            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    _, waited = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(waited)), flush=True)
