using ExecutionDistribution;

// Table of contents: the modules are wired in ExecDistApplication.Build.
ExecDistApplication.Build(args).Run();
