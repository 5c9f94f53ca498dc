// The counters of an incident service: the embedded one's (service.ts), which the cluster one
// (cluster-service.ts) extends with its own.
export type IncidentServiceStats = {
  ticks: number;
  tickErrors: number;
  samples: number;
  events: number;
  changes: number;
  ticketCommands: number;
  ticketErrors: number;
  warrantyClaims: number;
  /** Samples/events whose device time was implausible: placed at arrival (measurementTime). */
  untrustedTimes: number;
};

export function newIncidentServiceStats(): IncidentServiceStats {
  return { ticks: 0, tickErrors: 0, samples: 0, events: 0, changes: 0, ticketCommands: 0, ticketErrors: 0, warrantyClaims: 0, untrustedTimes: 0 };
}
