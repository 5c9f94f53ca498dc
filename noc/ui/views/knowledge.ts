// The knowledge base: every known fix (resolutions grouped by problem, model and cause, ranked by
// how often they held), searchable; operators edit a fix's title and text in the page language
// (GET/POST /api/known-fixes).
import type { KnownFix, KnownFixesAnswer } from '../../dispatch-api.js';
import { api, query, refreshFrom } from '../client.js';
import { td } from '../dispatch-i18n.js';
import { h, replace } from '../dom.js';
import { language, num, pct, t } from '../i18n.js';
import { errorBox, errorText, loading, toast } from '../ui.js';
import { navigate, type Session, type View, type ViewFactory } from '../view.js';

export const knowledgeView: ViewFactory = (session, _params, params) => new KnowledgeView(session, params.get('q') ?? '');

class KnowledgeView implements View {
  private root: HTMLElement | null = null;
  private answer: KnownFixesAnswer | null = null;
  private error: unknown = null;
  private editing: string | null = null;

  constructor(
    private readonly session: Session,
    private readonly q: string,
  ) {}

  mount(root: HTMLElement): void {
    this.root = root;
    this.render();
    this.refresh();
  }

  refresh(): void {
    refreshFrom<KnownFixesAnswer>(`/api/known-fixes${query({ q: this.q })}`, (a, e) => {
      if (a) this.answer = a;
      this.error = e;
      this.renderList();
    });
  }

  render(): void {
    if (!this.root) return;
    const search = h('input', { type: 'search', id: 'kb-search', name: 'q', value: this.q, maxlength: '200', 'aria-label': td('kb.search') });
    replace(
      this.root,
      h(
        'div',
        { class: 'page-head' },
        h('h1', null, td('kb.title')),
        h(
          'form',
          {
            class: 'report-form',
            role: 'search',
            onsubmit: (e: Event) => {
              e.preventDefault();
              navigate(`/knowledge${query({ q: search.value.trim() })}`, { replace: true });
            },
          },
          search,
          h('button', { type: 'submit', class: 'btn btn-primary' }, td('kb.search')),
        ),
      ),
      h('div', { id: 'kb-list' }),
    );
    this.renderList();
  }

  private renderList(): void {
    const box = this.root?.querySelector('#kb-list');
    if (!box) return;
    if (this.error)
      return replace(
        box,
        errorBox(this.error, () => this.refresh()),
      );
    if (!this.answer) return replace(box, loading());
    const lang = language();
    replace(
      box,
      this.answer.fixes.length
        ? h(
            'ol',
            { class: 'kb-list' },
            this.answer.fixes.map((f) =>
              h(
                'li',
                { class: 'card', 'data-fix': f.id },
                h('h2', null, f.title),
                h(
                  'p',
                  { class: 'muted small' },
                  `${td('kb.model')}: ${f.profile ?? '—'} · ${td('kb.failureMode')}: ${f.failureMode} · ${td('dispatch.cause')}: ${f.cause} · ${td('dispatch.held', { held: num(f.held, 0), total: num(f.resolutions, 0) })}${f.hitRate === null ? '' : ` · ${td('kb.hitRate')} ${pct(f.hitRate)}`}`,
                ),
                h('p', { dir: 'auto', class: 'fix-text' }, (f.text as Partial<Record<string, string>>)[lang] ?? f.text.en ?? Object.values(f.text)[0] ?? ''),
                this.session.canOperate
                  ? this.editing === f.id
                    ? this.editForm(f)
                    : h('button', { type: 'button', class: 'btn btn-small kb-edit', onclick: () => ((this.editing = f.id), this.renderList()) }, td('kb.edit'))
                  : null,
              ),
            ),
          )
        : h('p', { class: 'empty' }, td('kb.none')),
    );
  }

  private editForm(f: KnownFix): HTMLElement {
    const lang = language();
    const title = h('input', { type: 'text', class: 'kb-title', value: f.title, maxlength: '200', required: true });
    const text = h(
      'textarea',
      { class: 'kb-text', rows: '4', maxlength: '5000', required: true, dir: 'auto' },
      (f.text as Partial<Record<string, string>>)[lang] ?? '',
    );
    const hidden = h('input', { type: 'checkbox', class: 'kb-hidden', checked: f.hidden }) as HTMLInputElement;
    return h(
      'form',
      {
        class: 'kb-form',
        onsubmit: (e: Event) => {
          e.preventDefault();
          const body = {
            profile: f.profile,
            failureMode: f.failureMode,
            cause: f.cause,
            title: title.value.trim(),
            text: { ...f.text, [lang]: text.value.trim() },
            hidden: hidden.checked,
          };
          api
            .post('/api/known-fixes', body)
            .then(() => {
              toast(td('kb.saved'), 'ok');
              this.editing = null;
              this.refresh();
            })
            .catch((err) => toast(t('common.error', { message: errorText(err) }), 'error'));
        },
      },
      h('label', null, td('kb.titleField'), title),
      h('label', null, td('kb.textField', { lang }), text),
      h('label', null, hidden, ' ', td('kb.hidden')),
      h('button', { type: 'submit', class: 'btn btn-small btn-primary kb-save' }, td('kb.save')),
    );
  }

  destroy(): void {
    this.root = null;
  }
}
