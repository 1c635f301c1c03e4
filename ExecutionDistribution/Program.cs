using System.Text.Json;
using ExecutionDistribution.Distribution;
using ExecutionDistribution.Ingest;

// ExecDist: one host, modules wired around the in-memory dispatch core. Each module owns one
// registration file (XxxModule.cs); this file is only the table of contents.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    ContentRootPath = AppContext.BaseDirectory, // appsettings.json is linked into the output folder
});

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddProblemDetails();
builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);

builder.AddDistributionModule();
builder.AddIngestModule();

var app = builder.Build();

app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapIngestApi();
app.MapDistributionApi();
app.MapHealthChecks("/health");

app.Run();

/// <summary>The host's entry point, visible to tests that start it in-process.</summary>
public partial class Program;
