"""`python -m devenv.simulator [name ...]`: score scenarios and print one line per sizer."""

from __future__ import annotations

import sys

from devenv.simulator.scenarios import SCENARIOS, by_name
from devenv.simulator.scores import compare


def main(names: list[str]) -> None:
    chosen = [by_name(name) for name in names] if names else list(SCENARIOS)
    for scenario in chosen:
        result = compare(scenario)
        print(f"{scenario.name} needed={result.needed}")
        for scores in (result.kasynq, result.oracle, result.hpa):
            print(f"  {scores}")


if __name__ == "__main__":
    main(sys.argv[1:])
