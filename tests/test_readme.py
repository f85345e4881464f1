"""The README starts with the two set-up commands, and CI runs the second one verbatim."""

from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_readme_commands_and_ci_agree():
    lines = (ROOT / "README.md").read_text().splitlines()
    fence = lines.index("```bash")
    demo, tests = lines[fence + 1], lines[fence + 2]
    assert lines[fence + 3] == "```"
    assert demo.endswith("mxsight demo") and "pip install" in demo
    assert tests.endswith("pytest") and "'.[test]'" in tests
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == tests
