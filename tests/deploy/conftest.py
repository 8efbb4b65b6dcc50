import sys
from pathlib import Path

# gateway_process (a real gateway process for tests) lives with the gateway tests.
sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))
