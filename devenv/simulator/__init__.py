"""A deterministic queue simulator that scores `scaling.decide` against an oracle and an HPA
baseline on named scenarios (`scenarios.SCENARIOS`); `python -m devenv.simulator` prints the
table."""
