"""liveblog's benchmarks: DESIGN §8's goals, each beside a bare baseline, and other figures.

``python -m scripts.benchmarks`` (behind ``scripts/bench``) runs every workload and
prints one table; ``__main__`` says how to call it. The modules:

- the driver: ``__main__`` (command line, run loop), ``report`` (the table),
  ``workload`` (the sizes a workload gets, the row it returns);
- one module per workload: ``fanout`` (its rounds in ``fanout_runs``, its tables in
  ``fanout_report``), ``capacity``, ``join_storm``, ``read_api``, ``write``, ``rebuild``,
  ``resume``, ``growth``; ``inprocess`` is the application on a file, without a server;
- what they start, as the driver sees it: ``servers`` (``liveblog serve``, the bare
  baselines) and ``children`` (load clients), with the helpers every module shares in
  ``common``;
- the child programs: ``load_clients``, ``fanout_readers``, ``baselines``, ``trace``;
- ``profile_hot_paths`` (py-spy profiles) and ``figures`` (standalone measurements).
"""
