using ExecutionDistribution;
using ExecutionDistribution.Security;

// `token ...` mints a development token (docs/security.md); anything else runs the service.
if (args is ["token", .. var options])
{
    return DevelopmentTokens.Command(options, Console.Out, Console.Error);
}

// Table of contents: the modules are wired in ExecDistApplication.Build.
ExecDistApplication.Build(args).Run();
return 0;
