import * as fs from 'fs';
import * as path from 'path';
import { App, AppProps } from 'cdk8s';
import { CONFIG_FILE_WRITER, ConfigFile, configFilesOf, validateTree } from './config-file';
import { ImageSource, setImageSource } from './images';
import { renderTopology } from './renderers/topology';
import { summarizeTopology } from './topology-summary';

/** Props of an {@link EcmpApp}. */
export interface EcmpAppProps extends AppProps {
  /**
   * Registry, tag and digests of every image in the app (see ImageSource).
   * @default `cdk8s-ecmp-lb/<image>:<library version>`
   */
  readonly images?: ImageSource;
}

/** One file an EcmpApp writes beside the manifests. */
export interface RenderedFile {
  /** Its path, relative to the app's output directory. */
  readonly path: string;
  /** Its text. */
  readonly content: string;
}

/**
 * A cdk8s App that also writes the files that are not Kubernetes manifests: standalone route
 * reflector and upstream router configs, and `TOPOLOGY.md`. Nothing is written unless the whole
 * tree validates and every file renders.
 */
export class EcmpApp extends App {
  constructor(props: EcmpAppProps = {}) {
    super(props);
    setImageSource(this, 'images', props.images);
    (this as any)[CONFIG_FILE_WRITER] = true;
    new ConfigFile(this, 'Topology', {
      path: 'TOPOLOGY.md',
      installTo: 'nowhere: documentation of this output',
      produce: () => renderTopology(summarizeTopology(this)),
    });
  }

  public synth(): void {
    validateTree(this);
    const files = this.renderFiles();
    super.synth();
    for (const file of files) {
      const target = path.join(this.outdir, file.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, file.content);
    }
  }

  /** Renders every ConfigFile of the app, sorted by output path. */
  public renderFiles(): RenderedFile[] {
    const files = configFilesOf(this).map((file): RenderedFile => ({ path: file.path, content: file.render() }));
    return files.sort((a, b) => a.path.localeCompare(b.path));
  }
}
