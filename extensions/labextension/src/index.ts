/**
 * ComputeHub in JupyterLab and Notebook 7.
 *
 * - A status item (JupyterLab's status bar; Notebook 7 has none, so its top bar) shows the
 *   session's credits left and funded time left. The figures come from this server's
 *   `computehub/api/session` (computehub.extensions.statusapi), which asks the credits
 *   service with the server's own token: the browser never holds a hub token.
 * - Clicking it opens a side panel that runs the Python widget in the current notebook's
 *   kernel (`computehub.extensions.panel()`) and renders it with that notebook's
 *   rendermime, so the notebook's ipywidgets manager draws it. Nothing is written into
 *   the notebook, and the request is not stored in the kernel's history.
 * - With the first notebook whose kernel loaded the widget at start (see docs/widget.md),
 *   the panel opens by itself unless the `openOnStart` setting is off.
 */
import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { URLExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import { ServerConnection } from '@jupyterlab/services';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

const PLUGIN_ID = '@computehub/labextension:plugin';
const PANEL_ID = 'computehub-session-panel';
/** Runs in the kernel without touching the user's namespace or history. */
const SHOW = "__import__('computehub.extensions').extensions.panel()";
const SHOW_IF_AUTOLOADED = "__import__('computehub.extensions').extensions.panel(only_if_loaded=True)";

const icon = new LabIcon({
  name: 'computehub:gauge',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path class="jp-icon3" fill="#616161" ' +
    'd="M12 4a9 9 0 0 0-9 9c0 2.2.8 4.2 2.1 5.8l1.5-1.3A7 7 0 1 1 19 13c0 1.7-.6 3.3-1.6 4.5l1.5 1.3A9 9 0 0 0 12 4zm3.5 4.1-4.4 4.2a1.5 1.5 0 1 0 2 2l2.4-6.2z"/></svg>'
});

/** What computehub/api/session answers. */
interface ISessionInfo {
  enabled: boolean;
  now: string;
  message?: string;
  session?: {
    account: string;
    hub: string;
    job_id: string;
    available: string;
    available_text: string;
    funded_until: string;
  };
}

/** "2 h 05 min", "7 min", "ended". */
export function formatLeft(ms: number): string {
  if (ms <= 0) {
    return 'ended';
  }
  const minutes = Math.floor(ms / 60000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min`;
}

/** The compact item: "980.00 credits · 0 h 58 min left". */
class StatusItem extends Widget {
  info: ISessionInfo | null = null;
  private skew = 0;

  constructor(private readonly onOpen: () => void) {
    super();
    this.addClass('computehub-status');
    this.node.setAttribute('role', 'button');
    this.node.tabIndex = 0;
    this.node.textContent = 'ComputeHub…';
    this.node.addEventListener('click', () => this.onOpen());
    this.node.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        this.onOpen();
      }
    });
  }

  setInfo(info: ISessionInfo): void {
    this.info = info;
    this.skew = Date.parse(info.now) - Date.now();
    this.render();
  }

  render(): void {
    const info = this.info;
    const s = info?.session;
    this.removeClass('computehub-warn');
    this.removeClass('computehub-critical');
    if (!info?.enabled) {
      this.hide();
      return;
    }
    this.show();
    if (!s) {
      this.node.textContent = 'ComputeHub: credits unavailable';
      this.node.title = info.message ?? '';
      return;
    }
    const left = Date.parse(s.funded_until) - (Date.now() + this.skew);
    this.node.textContent = `${s.available_text} credits · ${formatLeft(left)}${left > 0 ? ' left' : ''}`;
    this.node.title =
      `ComputeHub: account ${s.account}, ${s.hub}, job ${s.job_id}; ` +
      `funded until ${new Date(s.funded_until).toLocaleString()}. Click for the session widget.`;
    if (left <= 5 * 60000) {
      this.addClass('computehub-critical');
    } else if (left <= 15 * 60000) {
      this.addClass('computehub-warn');
    }
  }
}

/** The side panel: the Python widget, run in one notebook's kernel. */
class SessionPanel extends Panel {
  private area: OutputArea | null = null;
  private note = new Widget();
  shownFor: NotebookPanel | null = null;

  constructor() {
    super();
    this.id = PANEL_ID;
    this.addClass('computehub-panel');
    this.title.icon = icon;
    this.title.caption = 'ComputeHub session';
    this.title.label = 'ComputeHub';
    this.note.addClass('computehub-panel-note');
    this.addWidget(this.note);
  }

  say(text: string): void {
    this.note.node.textContent = text;
  }

  /** Run the widget in `notebook`'s kernel; resolves to whether anything was displayed. */
  async showFor(notebook: NotebookPanel, code: string): Promise<boolean> {
    await notebook.sessionContext.ready;
    const kernel = notebook.sessionContext.session?.kernel;
    if (!kernel) {
      this.say('Start a kernel in the notebook to see the widget here.');
      return false;
    }
    this.area?.dispose();
    this.say(`Session widget (runs in the kernel of ${notebook.title.label})`);
    const model = new OutputAreaModel({ trusted: true });
    this.area = new OutputArea({ model, rendermime: notebook.content.rendermime });
    this.addWidget(this.area);
    this.shownFor = notebook;
    const future = kernel.requestExecute({
      code,
      silent: false,
      store_history: false,
      allow_stdin: false,
      stop_on_error: false
    });
    this.area.future = future;
    await future.done;
    if (model.length === 0) {
      this.shownFor = null;
    }
    return model.length > 0;
  }
}

async function fetchInfo(): Promise<ISessionInfo> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'computehub', 'api', 'session');
  const response = await ServerConnection.makeRequest(url, {}, settings);
  if (!response.ok) {
    throw new Error(`HTTP ${response.status}`);
  }
  return (await response.json()) as ISessionInfo;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'ComputeHub credits and time left in the status bar; the session widget in a panel.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IStatusBar, ISettingRegistry, ILabShell],
  activate: async (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    statusBar: IStatusBar | null,
    registry: ISettingRegistry | null,
    labShell: ILabShell | null
  ) => {
    let openOnStart = true;
    let refreshSeconds = 30;
    if (registry) {
      const settings = await registry.load(PLUGIN_ID);
      const read = (): void => {
        openOnStart = settings.get('openOnStart').composite as boolean;
        refreshSeconds = settings.get('refreshSeconds').composite as number;
      };
      read();
      settings.changed.connect(read);
    }

    const panel = new SessionPanel();
    let added = false;
    const reveal = (): void => {
      if (!added) {
        app.shell.add(panel, 'right', { rank: 900 });
        added = true;
      }
      app.shell.activateById(panel.id);
    };
    const open = async (): Promise<void> => {
      reveal();
      const notebook = tracker.currentWidget;
      if (!notebook) {
        panel.say('Open a notebook: the widget runs in its kernel.');
        return;
      }
      if (panel.shownFor !== notebook) {
        await panel.showFor(notebook, SHOW);
      }
    };

    const item = new StatusItem(() => void open());
    const refresh = async (): Promise<void> => {
      try {
        item.setInfo(await fetchInfo());
      } catch (err) {
        item.setInfo({ enabled: true, now: new Date().toISOString(), message: String(err) });
      }
    };
    if (statusBar) {
      statusBar.registerStatusItem(PLUGIN_ID, {
        item,
        align: 'left',
        rank: 1000
      });
    } else {
      // Notebook 7 has no status bar: its top bar carries the item.
      item.addClass('computehub-status-top');
      app.shell.add(item, 'top', { rank: 1000 });
    }
    await refresh();
    let polled = Date.now();
    window.setInterval(() => {
      if (Date.now() - polled >= refreshSeconds * 1000) {
        polled = Date.now();
        void refresh();
      } else {
        item.render();
      }
    }, 5000);

    // The first notebook whose kernel loaded the widget at start opens the panel. Each
    // notebook has its turn once its kernel is there, in the order they get one: a notebook
    // still waiting for its kernel (a restored one JupyterLab asks which kernel to start
    // for, say) keeps no other from opening it.
    let autoOpened = false;
    let turn: Promise<void> = Promise.resolve();
    const considered = new WeakSet<NotebookPanel>();
    const autoOpen = async (notebook: NotebookPanel | null): Promise<void> => {
      if (!notebook || considered.has(notebook)) {
        return;
      }
      considered.add(notebook);
      await notebook.sessionContext.ready;
      const mine = turn.then(async () => {
        // Once the panel is there (opened by this or by the person), it only follows.
        if (autoOpened || added || !openOnStart || !item.info?.enabled || notebook.isDisposed) {
          return;
        }
        if (await panel.showFor(notebook, SHOW_IF_AUTOLOADED)) {
          autoOpened = true;
          // The main area keeps what it shows now (another notebook may have opened
          // while the kernel answered): the panel is beside it, not instead of it.
          const shown = labShell?.currentWidget;
          reveal();
          if (shown) {
            labShell?.activateById(shown.id);
          }
        }
      });
      turn = mine.catch(() => undefined);
      await mine;
    };
    // An open panel shows the widget of the notebook in front.
    const follow = async (notebook: NotebookPanel | null): Promise<void> => {
      if (notebook && added && panel.isVisible && panel.shownFor !== notebook) {
        await panel.showFor(notebook, SHOW);
      }
    };
    tracker.widgetAdded.connect((_, notebook) => void autoOpen(notebook));
    tracker.currentChanged.connect((_, notebook) => {
      void autoOpen(notebook);
      void follow(notebook);
    });
    tracker.forEach(notebook => void autoOpen(notebook));
  }
};

export default plugin;
