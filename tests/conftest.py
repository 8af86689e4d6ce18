"""pytest configuration shared by the unit tests and nbval."""


def pytest_collectstart(collector):
    # nbval: don't compare stderr streams of notebooks (warnings carry kernel-specific paths).
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)

