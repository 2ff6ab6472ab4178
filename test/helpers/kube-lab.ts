// What the Kubernetes-mode tests on a lab share: flanneld --kube-subnet-mgr started in a lab node
// against the API double, and a node's gateway routes as "dst via gw" lines.
import { dist } from './scope.ts'
import type { Lab, LabNode } from '../../scripts/lib/lab/lab.ts'

/** env names the node as flannel reads it: NODE_NAME (the default), or POD_NAME + POD_NAMESPACE. */
export function startKubeFlanneld(lab: Lab, n: LabNode, o: { kubeconfig: string; netConf: string; env?: Record<string, string>; extra?: string[] }) {
  const env = o.env ?? { NODE_NAME: n.name }
  const argv = [
    'env',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    process.execPath,
    dist('flanneld'),
    '--kube-subnet-mgr',
    `--kubeconfig-file=${o.kubeconfig}`,
    `--net-config-path=${o.netConf}`,
    `--subnet-file=${n.subnetFile}`,
    '--ip-masq',
    '--iptables-resync=1',
    ...(o.extra ?? []),
  ]
  n.flanneld = lab.spawnIn(n.ns, argv, n.logFile)
  return n.flanneld
}

/** The node's gateway routes of one family (not the default), "dst via gw", sorted. */
export async function gatewayRoutes(lab: Lab, n: LabNode, family: 4 | 6 = 4): Promise<string[]> {
  return (await lab.routesOf(n, family))
    .filter((r) => r.gateway && r.dst !== 'default')
    .map((r) => `${r.dst} via ${r.gateway}`)
    .sort()
}
