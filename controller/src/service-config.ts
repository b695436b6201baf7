import * as fs from 'node:fs';
import { LoadBalancerServiceModel } from '../../lib/model';

export function loadServiceModel(file: string): LoadBalancerServiceModel {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as LoadBalancerServiceModel;
}
