// From an incident to its ticket: the one place where detector vocabulary (finding kinds, profile
// issue types) is mapped to SLA incident kinds and ticket Issue Types, and where the ticket text
// is written in the tenant's language (en, ar, fa, zh) with the figures, the ETA and the runbook.
// Pure functions: the incident service supplies inventory, SLA and warranty facts.
import type { FindingKind } from '../detectors/types.js';
import type { FirmwareProfile, SparePart, WearPart } from '../../firmware-profiles/schema.js';
import { wearPart } from '../../firmware-profiles/schema.js';
import type { Incident } from './store.js';
import { effectivePriority, priorityPolicyOf, slaDeadlines, type IncidentKind, type PriorityPolicy, type ServiceLevelAgreement } from '../sla/index.js';
import type { IssueType, TicketLanguage, TicketPriority, TicketSla } from '../tickets/index.js';

/** Detector finding kind → the SLA's incident kind (caps and "predictions never P1"). */
export const slaKindOf: Record<FindingKind, IncidentKind> = {
  'predicted-failure': 'wear-out',
  degradation: 'degradation',
  'recurring-fault': 'recurring-fault',
  fault: 'reactive',
  'clock-drift': 'reactive',
  'peripheral-absent': 'offline',
  'device-offline': 'offline',
  'site-offline': 'site',
};

/** Ticket Issue Type: predictions and connectivity by kind; faults by their profile issue type. */
export function ticketIssueType(kind: FindingKind, issueType: string, overrides: Record<string, IssueType> = {}): IssueType {
  const o = overrides[issueType];
  if (o) return o;
  if (kind === 'predicted-failure' || kind === 'degradation') return 'Predicted Failure';
  if (kind === 'device-offline' || kind === 'peripheral-absent' || kind === 'site-offline') return 'Connectivity';
  if (/consumable/.test(issueType)) return 'Consumable';
  if (/connectivity/.test(issueType)) return 'Connectivity';
  if (/firmware/.test(issueType)) return 'Firmware Update';
  return 'Hardware Failure';
}

/** Without an SLA: ERPNext/Helpdesk priorities, most urgent first; predictions still never Urgent. */
export const defaultPriorityPolicy: PriorityPolicy = { order: ['Urgent', 'High', 'Medium', 'Low'], caps: {}, default: 'Medium' };

export function ticketPriority(incident: Pick<Incident, 'kind' | 'priority'>, sla: ServiceLevelAgreement | undefined): TicketPriority {
  return effectivePriority(incident.priority, slaKindOf[incident.kind], sla ? priorityPolicyOf(sla) : defaultPriorityPolicy) as TicketPriority;
}

/** SLA fields of a ticket opened at `opening` (and, when given, resolved at `resolvedAt`). */
export function ticketSla(sla: ServiceLevelAgreement | undefined, priority: string, opening: number, resolvedAt?: number): TicketSla {
  if (!sla) return { serviceLevelAgreement: null, responseBy: null, resolutionBy: null, agreementStatus: null };
  const status_changes = resolvedAt !== undefined ? [{ at: resolvedAt, status: 'Resolved' as const }] : [];
  const d = slaDeadlines({ opening, priority, status_changes }, sla, resolvedAt ?? opening);
  return { serviceLevelAgreement: sla.service_level, responseBy: d.responseBy, resolutionBy: d.resolutionBy, agreementStatus: d.agreementStatus };
}

// ---------------------------------------------------------------------------------------------
// text

type Texts = Record<TicketLanguage, string>;

const headline: Record<FindingKind, Texts> = {
  'predicted-failure': {
    en: 'Predicted failure: a part of {peripheral} on {device} is near the end of its rated life.',
    ar: 'عطل متوقع: جزء من {peripheral} على {device} يقترب من نهاية عمره المقدر.',
    fa: 'خرابی پیش‌بینی‌شده: قطعه‌ای از {peripheral} روی {device} به پایان عمر اسمی خود نزدیک است.',
    zh: '预测故障：{device} 上 {peripheral} 的部件接近额定寿命终点。',
  },
  degradation: {
    en: 'Degradation: the error rate of {peripheral} on {device} rose above its baseline.',
    ar: 'تدهور: ارتفع معدل أخطاء {peripheral} على {device} فوق خط الأساس.',
    fa: 'افت کارایی: نرخ خطای {peripheral} روی {device} از خط پایه بالاتر رفته است.',
    zh: '性能下降：{device} 上 {peripheral} 的错误率高于其基线。',
  },
  'recurring-fault': {
    en: 'Recurring fault on {peripheral} of {device}: the temporary fix did not hold.',
    ar: 'عطل متكرر في {peripheral} على {device}: الإصلاح المؤقت لم يصمد.',
    fa: 'خطای تکراری در {peripheral} روی {device}: رفع موقت کارساز نبود.',
    zh: '{device} 上 {peripheral} 反复出现故障：临时处理无效。',
  },
  fault: {
    en: 'Fault on {peripheral} of {device}.',
    ar: 'عطل في {peripheral} على {device}.',
    fa: 'خطا در {peripheral} روی {device}.',
    zh: '{device} 上 {peripheral} 出现故障。',
  },
  'clock-drift': {
    en: 'The clock of {device} is far from the real time (real-time clock battery?).',
    ar: 'ساعة {device} بعيدة عن الوقت الحقيقي (بطارية ساعة النظام؟).',
    fa: 'ساعت {device} با زمان واقعی فاصله زیادی دارد (باتری ساعت سیستم؟).',
    zh: '{device} 的时钟与真实时间偏差过大（实时时钟电池？）。',
  },
  'peripheral-absent': {
    en: '{peripheral} on {device} does not answer.',
    ar: '{peripheral} على {device} لا يستجيب.',
    fa: '{peripheral} روی {device} پاسخ نمی‌دهد.',
    zh: '{device} 上的 {peripheral} 无响应。',
  },
  'device-offline': {
    en: '{device} is offline.',
    ar: '{device} غير متصل.',
    fa: '{device} آفلاین است.',
    zh: '{device} 已离线。',
  },
  'site-offline': {
    en: 'Most devices of site {site} are offline at once (power or network outage).',
    ar: 'معظم أجهزة الموقع {site} غير متصلة في آن واحد (انقطاع كهرباء أو شبكة).',
    fa: 'بیشتر دستگاه‌های شعبه {site} هم‌زمان آفلاین هستند (قطع برق یا شبکه).',
    zh: '站点 {site} 的大部分设备同时离线（停电或网络中断）。',
  },
};

const kindLabel: Record<FindingKind, Texts> = {
  'predicted-failure': { en: 'Predicted failure', ar: 'عطل متوقع', fa: 'خرابی پیش‌بینی‌شده', zh: '预测故障' },
  degradation: { en: 'Degradation', ar: 'تدهور', fa: 'افت کارایی', zh: '性能下降' },
  'recurring-fault': { en: 'Recurring fault', ar: 'عطل متكرر', fa: 'خطای تکراری', zh: '反复故障' },
  fault: { en: 'Fault', ar: 'عطل', fa: 'خطا', zh: '故障' },
  'clock-drift': { en: 'Clock drift', ar: 'انحراف الساعة', fa: 'انحراف ساعت', zh: '时钟漂移' },
  'peripheral-absent': { en: 'Peripheral not answering', ar: 'ملحق لا يستجيب', fa: 'دستگاه جانبی بی‌پاسخ', zh: '外设无响应' },
  'device-offline': { en: 'Device offline', ar: 'جهاز غير متصل', fa: 'دستگاه آفلاین', zh: '设备离线' },
  'site-offline': { en: 'Site outage', ar: 'انقطاع الموقع', fa: 'قطعی شعبه', zh: '站点中断' },
};

const label: Record<'figures' | 'eta' | 'days' | 'runbook' | 'serial' | 'warranty' | 'recovered' | 'reopened' | 'updated' | 'closed', Texts> = {
  figures: { en: 'Figures', ar: 'الأرقام', fa: 'ارقام', zh: '数据' },
  eta: { en: 'Expected end of life', ar: 'نهاية العمر المتوقعة', fa: 'پایان عمر پیش‌بینی‌شده', zh: '预计寿命终点' },
  days: { en: 'days', ar: 'يوم', fa: 'روز', zh: '天' },
  runbook: { en: 'What to do', ar: 'ما يجب فعله', fa: 'اقدام لازم', zh: '处理步骤' },
  serial: { en: 'Serial', ar: 'الرقم التسلسلي', fa: 'شماره سریال', zh: '序列号' },
  warranty: { en: 'Warranty', ar: 'الضمان', fa: 'گارانتی', zh: '保修' },
  recovered: {
    en: 'Recovered: the condition has cleared and stayed clear.',
    ar: 'تمت الاستعادة: زالت الحالة واستمر زوالها.',
    fa: 'رفع شد: وضعیت برطرف شده و برطرف مانده است.',
    zh: '已恢复：状况已消除并保持稳定。',
  },
  reopened: { en: 'The problem is back.', ar: 'عادت المشكلة.', fa: 'مشکل دوباره رخ داده است.', zh: '问题再次出现。' },
  updated: { en: 'New figures.', ar: 'أرقام جديدة.', fa: 'ارقام جدید.', zh: '最新数据。' },
  closed: {
    en: 'Closed: no recurrence within the reopen window.',
    ar: 'أُغلقت: لم تتكرر خلال فترة إعادة الفتح.',
    fa: 'بسته شد: در بازه بازگشایی تکرار نشد.',
    zh: '已关闭：在重开窗口内未再发生。',
  },
};

export function runbookText(ref: Incident['runbook'], profiles: ReadonlyMap<string, FirmwareProfile>, lang: TicketLanguage): string {
  // Device- and site-wide conditions (offline, clock drift, site outage) are the host profile's.
  const profile = profiles.get(ref.profile ?? 'host');
  const text = profile?.runbook[ref.code] ?? profile?.runbook.general;
  return text?.[lang] ?? '';
}

const fill = (t: string, v: Record<string, string>) => t.replace(/\{(\w+)\}/g, (_, k: string) => v[k] ?? '');

function isoDay(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

function figureLines(figures: Incident['figures']): string[] {
  return Object.entries(figures).map(([k, v]) => `- ${k}: ${v}`);
}

export function ticketSubject(incident: Incident, lang: TicketLanguage): string {
  const where =
    incident.scope === 'site'
      ? (incident.site ?? incident.device)
      : incident.peripheral === 'device'
        ? incident.device
        : `${incident.device}/${incident.peripheral}`;
  return `${kindLabel[incident.kind][lang]}: ${where} ${incident.failureMode}`.slice(0, 140);
}

/** The worn part an incident is about: its `part` figure, else its failure mode (`cutter-wear-out`, detectors/types.ts). */
export function wornPartOf(incident: Pick<Incident, 'failureMode' | 'figures'>): WearPart | null {
  const fromFigures = wearPart.safeParse(incident.figures.part);
  if (fromFigures.success) return fromFigures.data;
  const m = /^(.+)-wear-out$/.exec(incident.failureMode);
  const fromMode = m ? wearPart.safeParse(m[1]) : null;
  return fromMode?.success ? fromMode.data : null;
}

/** The spare part a technician brings for a worn-part incident (predicted failure or its degradation), from its profile. */
export function sparePartFor(
  incident: Pick<Incident, 'kind' | 'failureMode' | 'figures' | 'runbook'>,
  profiles: ReadonlyMap<string, FirmwareProfile>,
): SparePart | null {
  if (incident.kind !== 'predicted-failure' && incident.kind !== 'degradation') return null;
  const part = wornPartOf(incident);
  const profile = incident.runbook.profile ? profiles.get(incident.runbook.profile) : undefined;
  return (part && profile?.spareParts[part]) || null;
}

const partLabel: Record<'bring' | 'number' | 'unknown' | 'swap' | 'minutes', Texts> = {
  bring: { en: 'Part to bring', ar: 'القطعة المطلوب إحضارها', fa: 'قطعه‌ای که باید همراه بیاورید', zh: '需携带的备件' },
  number: { en: 'part no.', ar: 'رقم القطعة', fa: 'شماره قطعه', zh: '零件号' },
  unknown: {
    en: 'unknown (see the vendor parts list)',
    ar: 'غير معروف (راجع قائمة قطع الغيار لدى المورّد)',
    fa: 'نامشخص (فهرست قطعات سازنده را ببینید)',
    zh: '未知（请查阅厂商备件清单）',
  },
  swap: { en: 'typical swap time', ar: 'مدة الاستبدال المعتادة', fa: 'زمان معمول تعویض', zh: '典型更换时间' },
  minutes: { en: 'min', ar: 'دقيقة', fa: 'دقیقه', zh: '分钟' },
};

/** One line: the part's name, its number (or "unknown") and its typical swap time, in `lang`. */
export function sparePartLine(s: SparePart, lang: TicketLanguage): string {
  const swap = s.swapMinutes === null ? partLabel.unknown[lang] : `${s.swapMinutes} ${partLabel.minutes[lang]}`;
  return `${partLabel.bring[lang]}: ${s.name[lang]} — ${partLabel.number[lang]} ${s.partNumber ?? partLabel.unknown[lang]} — ${partLabel.swap[lang]}: ${swap}`;
}

export type DescriptionFacts = { serial: string | null; warranty: string | null; runbook: string; now: number; sparePart?: SparePart | null };

/** What was seen, the figures, the ETA and the runbook, in `lang`. */
export function ticketDescription(incident: Incident, lang: TicketLanguage, facts: DescriptionFacts): string {
  const v = { device: incident.device, peripheral: incident.peripheral, site: incident.site ?? '' };
  const lines = [fill(headline[incident.kind][lang], v), '', `${label.figures[lang]}:`, ...figureLines(incident.figures)];
  if (incident.eta !== null) {
    const days = Math.round(((incident.eta - facts.now) / 86_400_000) * 10) / 10;
    lines.push(`${label.eta[lang]}: ${isoDay(incident.eta)} (${days} ${label.days[lang]})`);
  }
  if (facts.serial) lines.push(`${label.serial[lang]}: ${facts.serial}`);
  if (facts.warranty) lines.push(`${label.warranty[lang]}: ${facts.warranty}`);
  if (facts.sparePart) lines.push(sparePartLine(facts.sparePart, lang));
  lines.push('', `${label.runbook[lang]}:`, facts.runbook, '', `[${incident.key}]`);
  return lines.join('\n').slice(0, 20_000);
}

/** The comment of a later change (update, reopen, resolve, close), in `lang`. */
export function changeComment(incident: Incident, what: 'updated' | 'reopened' | 'recovered' | 'closed', lang: TicketLanguage): string {
  const lines = [label[what][lang]];
  if (what !== 'closed') lines.push(...figureLines(incident.figures));
  if (incident.eta !== null && what === 'updated') lines.push(`${label.eta[lang]}: ${isoDay(incident.eta)}`);
  return lines.join('\n');
}
