"""Every problem that stops the stage before any work, gathered from the layers that know them,
one line each naming the fix (the user fixes them all at once, not one per run)."""
from typing import List

from signpose.api import setup_problems
from signpose.config import Options, Settings, value_problems


def problems(s: Settings) -> List[str]:
    """The values first; then the packages, files and the machine they need (those are only worth
    checking once the values are sound, and a broken stack makes the rest moot)."""
    found = value_problems(s)
    if found:
        return found
    found = setup_problems(Options.of(s))
    if found and found[0].startswith('cannot import'):
        return found
    if 'pose' in s.OUTPUT_FORMATS:
        try:
            import pose_format.pose  # noqa: F401  (optional: only runs that write .pose files need it)
        except ImportError as err:
            found.append(f"OUTPUT_FORMATS has 'pose', which needs pose-format ({err}) -> bash setup.sh "
                         f"(or: pip install pose-format==0.15.0)")
    return found
