using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace ExecutionDistribution.Hosting;

/// <summary>
/// Binds a module's options to their configuration section and validates them at start with the
/// module's <c>[OptionsValidator]</c> (source-generated from the data annotations on the options),
/// so that a bad setting stops the host with a message naming the key as configuration spells it.
/// </summary>
internal static class ValidatedOptions
{
    /// <summary>Binds <typeparamref name="TOptions"/> to <paramref name="section"/>, validated at start by <typeparamref name="TValidator"/>.</summary>
    public static OptionsBuilder<TOptions> AddValidatedOptions<TOptions, TValidator>(this IServiceCollection services, IConfiguration configuration, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>, new()
    {
        services.AddSingleton<IValidateOptions<TOptions>>(new SectionValidator<TOptions>(section, new TValidator()));
        return services.AddOptions<TOptions>().Bind(configuration.GetSection(section)).ValidateOnStart();
    }

    /// <summary>
    /// Runs the generated validator with the section as the options' name, so each member is shown
    /// as <c>Section.Member</c> (<c>Section.Member.Child</c> for nested options), and spells that
    /// path as a configuration key (<c>Section:Member:Child</c>).
    /// </summary>
    private sealed class SectionValidator<TOptions>(string section, IValidateOptions<TOptions> generated) : IValidateOptions<TOptions>
        where TOptions : class
    {
        private readonly Regex _memberPath = new($@"\b{Regex.Escape(section)}(\.[A-Za-z_][A-Za-z0-9_]*)+", RegexOptions.CultureInvariant);

        public ValidateOptionsResult Validate(string? name, TOptions options)
        {
            var result = generated.Validate(section, options);
            if (!result.Failed)
            {
                return result;
            }

            var failures = new List<string>();
            foreach (var failure in result.Failures ?? [result.FailureMessage])
            {
                failures.Add(_memberPath.Replace(failure, m => m.Value.Replace('.', ':')));
            }

            return ValidateOptionsResult.Fail(failures);
        }
    }
}
