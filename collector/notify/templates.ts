// What the store is told, in its language: one short text per notice and language, with named
// placeholders. A template naming a field that does not exist is refused when the config loads,
// not when the first ticket is sent.
import { z } from 'zod';
import type { TicketLanguage } from '../tickets/model.js';

export const noticeEvents = ['opened', 'assigned', 'resolved'] as const;
export const noticeEventSchema = z.enum(noticeEvents);
export type NoticeEvent = z.infer<typeof noticeEventSchema>;

/** The fields a template may use. */
export const templateFields = ['ref', 'subject', 'device', 'site', 'customer', 'priority', 'status', 'resolution', 'technician'] as const;
export type TemplateField = (typeof templateFields)[number];
export type TemplateValues = Record<TemplateField, string>;

const placeholder = /\{([a-zA-Z]+)\}/g;

/** The unknown placeholders of a template, empty when it is fine. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(placeholder)].map((m) => m[1]).filter((f) => !(templateFields as readonly string[]).includes(f));
}

export const templateText = z
  .string()
  .min(1)
  .max(2000)
  .superRefine((t, ctx) => {
    const bad = unknownPlaceholders(t);
    if (bad.length)
      ctx.addIssue({
        code: 'custom',
        message: `unknown placeholder ${bad.map((b) => `{${b}}`).join(', ')}; known: ${templateFields.map((f) => `{${f}}`).join(' ')}`,
      });
  });

export const noticeTemplateSchema = z.object({ subject: templateText, body: templateText });
export type NoticeTemplate = z.infer<typeof noticeTemplateSchema>;

export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(placeholder, (_, f: string) => values[f as TemplateField] ?? '');
}

/** Right-to-left scripts: the HTML part gets dir="rtl" so numbers and ids stay in place. */
export const rtlLanguages: ReadonlySet<TicketLanguage> = new Set(['ar', 'fa']);

export const defaultTemplates: Record<TicketLanguage, Record<NoticeEvent, NoticeTemplate>> = {
  en: {
    opened: {
      subject: 'Service ticket {ref}: {subject}',
      body: 'We have opened service ticket {ref} for {device} at {site}: {subject}. Priority: {priority}. Our team is on it; you will hear from us when it is resolved.',
    },
    assigned: {
      subject: 'Technician assigned: {ref}',
      body: 'Our technician {technician} is taking care of service ticket {ref} for {device} at {site}: {subject}.',
    },
    resolved: { subject: 'Resolved: {ref} {subject}', body: 'Service ticket {ref} for {device} at {site} is resolved. {resolution}' },
  },
  ar: {
    assigned: { subject: 'تم تعيين فني: {ref}', body: 'يتولى فنينا {technician} تذكرة الخدمة {ref} للجهاز {device} في {site}: {subject}.' },
    opened: {
      subject: 'تذكرة الخدمة {ref}: {subject}',
      body: 'فتحنا تذكرة الخدمة {ref} للجهاز {device} في {site}: {subject}. الأولوية: {priority}. فريقنا يعمل عليها وسنبلغكم عند حلها.',
    },
    resolved: { subject: 'تم الحل: {ref} {subject}', body: 'تم حل تذكرة الخدمة {ref} للجهاز {device} في {site}. {resolution}' },
  },
  fa: {
    assigned: { subject: 'تکنسین تعیین شد: {ref}', body: 'تکنسین ما {technician} به تیکت خدمات {ref} برای دستگاه {device} در {site} رسیدگی می‌کند: {subject}.' },
    opened: {
      subject: 'تیکت خدمات {ref}: {subject}',
      body: 'تیکت خدمات {ref} برای دستگاه {device} در {site} باز شد: {subject}. اولویت: {priority}. تیم ما در حال رسیدگی است و پس از رفع مشکل به شما اطلاع می‌دهیم.',
    },
    resolved: { subject: 'رفع شد: {ref} {subject}', body: 'تیکت خدمات {ref} برای دستگاه {device} در {site} رفع شد. {resolution}' },
  },
  zh: {
    assigned: { subject: '已指派技术员：{ref}', body: '我们的技术员 {technician} 正在处理 {site} 的设备 {device} 的服务工单 {ref}：{subject}。' },
    opened: {
      subject: '服务工单 {ref}：{subject}',
      body: '我们已为 {site} 的设备 {device} 创建服务工单 {ref}：{subject}。优先级：{priority}。我们的团队正在处理，解决后会通知您。',
    },
    resolved: { subject: '已解决：{ref} {subject}', body: '{site} 的设备 {device} 的服务工单 {ref} 已解决。{resolution}' },
  },
};
