"""moto_server, with one fidelity fix to its CodeBuild.

moto 5.2.5 marks every build SUCCEEDED whenever BatchGetBuilds reads it, even a build that StopBuild
already ended as STOPPED, and appends its phase list again on every read. Real CodeBuild never changes a
finished build. This launcher keeps finished builds as they ended; everything else is moto unchanged.

    python moto_server.py -H 127.0.0.1 -p PORT     (the arguments of moto_server)
"""

import sys

from moto.codebuild.models import CodeBuildBackend
from moto.server import main

_batch_get_builds = CodeBuildBackend.batch_get_builds


def batch_get_builds(self, ids):
    finished = {}
    for history in self.build_metadata_history.values():
        for build in history:
            if build["id"] in ids and build["buildStatus"] != "IN_PROGRESS":
                finished[build["id"]] = build
    running = _batch_get_builds(self, [i for i in ids if i not in finished])
    by_id = {build["id"]: build for build in running}
    by_id.update(finished)
    return [by_id[i] for i in ids if i in by_id]


CodeBuildBackend.batch_get_builds = batch_get_builds

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
