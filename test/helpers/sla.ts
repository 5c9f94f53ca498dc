// A 24/7 Service Level Agreement used by the server-level tests (ERPNext field names).
export const GOLD_24X7 = {
  service_level: 'Gold 24x7',
  default_priority: 'Medium',
  priorities: [
    { priority: 'Urgent', response_time: 900, resolution_time: 4 * 3600 },
    { priority: 'High', response_time: 3600, resolution_time: 8 * 3600 },
    { priority: 'Medium', response_time: 4 * 3600, resolution_time: 24 * 3600 },
    { priority: 'Low', response_time: 8 * 3600, resolution_time: 5 * 24 * 3600 },
  ],
  calendar: { time_zone: 'Asia/Riyadh', twenty_four_seven: true },
};
