// Channel ids of the Kubernetes remote-command stream protocols.

export const Channel = {
  Stdin: 0,
  Stdout: 1,
  Stderr: 2,
  Error: 3,
  Resize: 4,
  /** v5 only: a client message `[Close, channel]` half-closes that channel. */
  Close: 255,
} as const;

export type ChannelId = (typeof Channel)[keyof typeof Channel];

/** Channels a server reads from the client on exec and attach. */
export const clientChannels: readonly number[] = [Channel.Stdin, Channel.Resize];
