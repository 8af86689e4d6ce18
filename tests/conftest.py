"""pytest configuration shared by the unit tests and nbval."""


def pytest_collectstart(collector):
    # nbval: don't compare stderr streams of notebooks (warnings carry kernel-specific paths).
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)


#: The slowest files (CPU seconds on 2 cores, `pytest --durations=0`, 2026-12-02), started first
#: so that `make test`'s workers finish together: longest-first is the classic fix for a
#: schedule whose long jobs would otherwise start last and run alone (collection order puts
#: test_validation.py and the notebooks at the end).
SLOW_FIRST = ("tests/test_validation.py",            # 25 s: three validation tables
              "tests/test_chapters_params_b.py",     # 22 s: six chapter runs under papermill
              "tests/test_chapters_params.py",       # 20 s: six chapter runs
              "notebooks/11_sensitivity.ipynb",      # 13 s
              "tests/test_report.py",                # 13 s
              "tests/test_audit_plans.py",           # 9 s
              "tests/test_tools_params.py",          # 11 s: three tool-notebook runs
              "notebooks/10_validation.ipynb",       # 8 s (reads the tables' cache)
              "tests/test_sensitivity.py",           # 7 s
              "tests/test_audit.py")                 # 8 s


def pytest_collection_modifyitems(session, config, items):
    """Slow files first, each file's items kept together and in their order."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    root = str(config.rootpath)

    def key(item):
        path = str(item.path)[len(root) + 1:]
        return rank.get(path, len(rank))
    items.sort(key=key)      # stable: unlisted files keep collection order
