// weft-doctor on a lab node, run as an operator would on a real one: inside the node's network
// namespace, with the flags flanneld got there. The lab keeps no conflist (it hands the plugin
// its config directly), so one is written in the node's directory for the doctor to check, as
// weft-install would write /etc/cni/net.d/10-flannel.conflist. In Kubernetes mode (weft-lab --kube)
// it gets flanneld's kube flags and NODE_NAME instead of etcd's endpoints.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../core/sh.ts'
import type { Lab, LabNode } from './lab.ts'

export function doctorArgs(lab: Lab, node: LabNode, health = true): string[] {
  const confDir = join(node.dir, 'net.d')
  if (!existsSync(join(confDir, '10-flannel.conflist'))) {
    mkdirSync(confDir, { recursive: true })
    const { cniVersion, name, ...flannel } = JSON.parse(lab.cniConf(node))
    writeFileSync(join(confDir, '10-flannel.conflist'), JSON.stringify({ cniVersion, name, plugins: [flannel] }, null, 2) + '\n')
  }
  const registry = lab.kube ? ['--kube-subnet-mgr', `--kubeconfig-file=${lab.kube.kubeconfig}`, `--net-config-path=${lab.kube.netConf}`] : [`--etcd-endpoints=${lab.endpoint}`]
  return [
    ...registry,
    `--subnet-file=${node.subnetFile}`,
    '--ip-masq',
    `--cni-conf-dir=${confDir}`,
    `--cni-bin-dir=${lab.opts.dist}:${lab.opts.cniPath ?? '/usr/lib/cni'}`,
    ...(health ? ['--healthz-ip=127.0.0.1', '--healthz-port=8081'] : []),
  ]
}

/** The doctor's table (or --json) and exit code for one node. */
export async function runDoctor(lab: Lab, node: LabNode, extra: string[] = [], o: { health?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run(
    ['ip', 'netns', 'exec', node.ns, ...doctorEnv(lab, node), process.execPath, join(lab.opts.dist, 'weft-doctor'), ...doctorArgs(lab, node, o.health ?? true), ...extra],
    {
      nothrow: true,
    },
  )
  return { code: r.code, stdout: r.stdout, stderr: r.stderr }
}

/** Kubernetes mode: the node's name, as flanneld gets it (`env NODE_NAME=<name>`); [] with etcd. */
export function doctorEnv(lab: Lab, node: LabNode): string[] {
  return lab.kube ? ['env', `NODE_NAME=${node.name}`] : []
}
