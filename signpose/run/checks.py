"""Every problem that stops the stage before any work, gathered from the layers that know them,
one line each naming the fix (the user fixes them all at once, not one per run)."""
from typing import List

from signpose.config import Settings, value_problems
from signpose.data.video import video_backend_problem
from signpose.nets.devices import precision_problem
from signpose.nets.loading import dependency_problems, model_file_problems
from signpose.nets.runtimes import backend_problem


def problems(s: Settings) -> List[str]:
    """The values first; then the packages, files and the machine they need (those are only worth
    checking once the values are sound, and a broken stack makes the rest moot)."""
    found = value_problems(s)
    if found:
        return found
    found = dependency_problems()
    if found:
        return found
    found = model_file_problems(s)
    if 'pose' in s.OUTPUT_FORMATS:
        try:
            import pose_format.pose  # noqa: F401  (optional: only runs that write .pose files need it)
        except ImportError as err:
            found.append(f"OUTPUT_FORMATS has 'pose', which needs pose-format ({err}) -> bash setup.sh "
                         f"(or: pip install pose-format==0.15.0)")
    found += [p for p in (precision_problem(s), video_backend_problem(s.VIDEO_BACKEND), backend_problem(s)) if p]
    return found
