// The name the user typed to run podshell, for usage lines, help and examples: `podshell`, or
// `kubectl podshell` when kubectl runs it as a plugin (bin/kubectl-podshell says so in
// PODSHELL_COMMAND_NAME).

export function commandName(): string {
  return process.env.PODSHELL_COMMAND_NAME?.trim() || 'podshell';
}
