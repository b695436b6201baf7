import { App } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { invalidField } from './errors';

/** Marks an App that writes ConfigFiles (EcmpApp); a marker, not a class, to avoid an import cycle. */
export const CONFIG_FILE_WRITER = Symbol.for('cdk8s-ecmp-lb.config-file-writer');

/** Options of a file that is not a Kubernetes manifest. */
export interface ConfigFileOptions {
  /** Path relative to the app's output directory. Never ends in `.yaml`: cdk8s would take it for a manifest. */
  readonly path: string;
  /** Where the operator installs it, for TOPOLOGY.md, e.g. `/etc/frr/frr.conf on router r1`. */
  readonly installTo: string;
  /** Produces the content at synth time, after validation. */
  readonly produce: () => string;
}

/**
 * A file for a machine outside the cluster (a standalone route reflector, the upstream router).
 * EcmpApp renders every ConfigFile after validation and writes it beside the manifests.
 */
export class ConfigFile extends Construct {
  public readonly path: string;
  public readonly installTo: string;
  private readonly produce: () => string;

  constructor(scope: Construct, id: string, options: ConfigFileOptions) {
    super(scope, id);
    this.path = options.path;
    this.installTo = options.installTo;
    this.produce = options.produce;
    this.node.addValidation({ validate: () => this.validateOutput() });
  }

  private validateOutput(): string[] {
    const app = App.of(this);
    if (!(app as any)[CONFIG_FILE_WRITER]) {
      return [invalidField(this, 'app', app.constructor.name, 'cannot write files that are not Kubernetes manifests',
        'create the app with `new EcmpApp()` instead of `new App()`')];
    }
    const clash = configFilesOf(app).find(other => other !== this && other.path === this.path);
    return clash ? [invalidField(this, 'output path', this.path, `is also written by ${clash.node.path}`,
      'give each route reflector and upstream router a distinct name')] : [];
  }

  /** The rendered content. */
  public render(): string {
    return this.produce();
  }
}

/** Every ConfigFile under `root`, in tree order. */
export function configFilesOf(root: IConstruct): ConfigFile[] {
  return root.node.findAll().filter((c): c is ConfigFile => c instanceof ConfigFile);
}

/** Runs every construct's validations and throws once with all messages, as cdk8s does. */
export function validateTree(root: IConstruct): void {
  const errors = root.node.findAll().flatMap(c => c.node.validate().map(e => `[${c.node.path}] ${e}`));
  if (errors.length > 0) throw new Error(`Validation failed with the following errors:\n  ${errors.join('\n  ')}`);
}
