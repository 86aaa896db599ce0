"""A notebook server run through the cluster's container runtime: the job script's lines.

Pure: the site file names an image for an environment (``environments.NAME.image``)
and a runtime for a hub (``hubs.NAME.containers.runtime``); this turns them into the
argv words that start the server inside the image. Every value is validated by the
site file's schema and quoted here; none comes from a user. docs/operations.md
"Notebook images on the clusters" says how an operator makes the image file.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from computehub.sitefile.schema import Site

#: The runtimes computehub can start a server through.
Runtime = Literal["apptainer", "pyxis"]


@dataclass(frozen=True)
class ContainerLaunch:
    """How a job starts its server in an image.

    Attributes:
        runtime: ``apptainer`` (``apptainer exec IMAGE.sif ...``) or ``pyxis``
            (Enroot through Slurm's pyxis plugin: ``srun --container-image=IMAGE.sqsh ...``).
        image: the image file on the cluster's shared file system (a SIF file for
            Apptainer, an Enroot squashfs file for pyxis).
        command: the runtime's program (``apptainer``, or ``srun`` for pyxis).
        binds: host directories mounted at the same path inside the container, besides
            the user's home (e.g. a shared datasets folder).
    """

    runtime: Runtime
    image: PurePosixPath
    command: str
    binds: tuple[PurePosixPath, ...] = ()


def launch_for(site: Site, hub: str, environment: str) -> ContainerLaunch | None:
    """The launch of ``environment`` on ``hub``; None when it names no image (a prefix).

    The site file's schema has already refused an image on a hub without a runtime, or
    without a file for the hub's runtime.
    """
    images = site.environments[environment].image
    runtime = site.hubs[hub].containers
    image = None if images is None or runtime is None else getattr(images, runtime.runtime)
    if image is None or runtime is None:
        return None
    return ContainerLaunch(
        runtime=runtime.runtime,
        image=PurePosixPath(image),
        command=runtime.command or ("apptainer" if runtime.runtime == "apptainer" else "srun"),
        binds=tuple(PurePosixPath(path) for path in runtime.binds),
    )


def launch_words(
    launch: ContainerLaunch, *, home: PurePosixPath, gpus: bool, cpus: int
) -> list[str]:
    """The words before the server's own argv that run it inside ``launch.image``.

    The job's environment (the hub's API token, batchspawner's variables) passes
    into the container by both runtimes' defaults; the server runs as the job's
    user in the user's home, with the host's network (batchspawner reports the
    port the hub connects to).

    Args:
        launch: the hub's runtime and the environment's image.
        home: the user's home directory (mounted, and the server's working directory).
        gpus: whether the job has GPUs (Apptainer needs ``--nv`` to see them; Enroot's
            NVIDIA hook sees the job's GPUs by itself).
        cpus: the job's CPUs per task (pyxis runs the server as a job step, which is
            given them again: srun does not inherit ``--cpus-per-task`` on every Slurm).

    Returns:
        argv words, unquoted (:func:`launch_line` quotes them).

    Raises:
        ValueError: a mounted path holds ``,`` or ``:`` (pyxis's and Apptainer's
            separators: such a path would mount something else).
    """
    binds = (home, *launch.binds)
    for path in binds:
        if not mountable(path):
            raise ValueError(
                f"can't mount {str(path)!r} in a container: not an absolute path without ',' or ':'"
            )
    if launch.runtime == "apptainer":
        words = [launch.command, "exec", "--contain", f"--pwd={home}"]
        if gpus:
            words.append("--nv")
        words += [f"--bind={path}" for path in binds]
        return [*words, str(launch.image)]
    mounts = ",".join(f"{path}:{path}" for path in binds)
    return [
        launch.command,
        "--ntasks=1",
        f"--cpus-per-task={cpus}",
        f"--container-image={launch.image}",
        f"--container-mounts={mounts}",
        f"--container-workdir={home}",
        "--no-container-remap-root",
    ]


def mountable(path: PurePosixPath) -> bool:
    """Whether both runtimes can mount ``path`` as itself (absolute, no ``,`` or ``:``)."""
    return path.is_absolute() and "," not in str(path) and ":" not in str(path)


def launch_line(words: list[str]) -> str:
    """One shell line of ``words``, each quoted (the job script's ``exec`` line)."""
    return " ".join(shlex.quote(word) for word in words)
