"""The stage's command: ``python scripts/3b_extract_mmpose.py [--config FILE] [--cfg-options KEY=VALUE ...]``
(also ``signpose-3b``); the run itself is run/stage.py."""
from signpose.config import argument_parser, settings_from_args
from signpose.nets.loading import quiet_library_warnings
from signpose.run.stage import run


def main(argv=None) -> int:
    quiet_library_warnings()
    parser = argument_parser('Stage 3b: extract 3D whole-body landmarks from caption segments.')
    args = parser.parse_args(argv)
    return run(settings_from_args(args), args.config)
