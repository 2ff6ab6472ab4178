// One node for the fast-repair test and benchmark (issue 13 item 8): a netns with a veth pair
// (v0 192.168.50.1/24), etcd inside it on 127.0.0.1, a host-gw config and one peer's lease.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { must, type Scope } from '../helpers/scope.ts'
import { startEtcd, etcdctl, type Etcd } from '../helpers/etcd.ts'

export const PEER_ROUTE = '10.244.2.0/24 via 192.168.50.2'

export interface RepairNode {
  ns: string
  etcd: Etcd
  subnetFile: string
  routes(): string[]
}

export async function repairNode(scope: Scope): Promise<RepairNode> {
  const ns = scope.ns('fr')
  must(['ip', '-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'])
  must(['ip', '-n', ns, 'addr', 'add', '192.168.50.1/24', 'dev', 'v0'])
  for (const d of ['v0', 'v1']) must(['ip', '-n', ns, 'link', 'set', d, 'up'])
  const etcd = await startEtcd(scope, { netns: ns, ip: '127.0.0.1' })
  const put = (k: string, v: string) => {
    if (etcdctl(etcd.endpoint, ['put', k, v], { netns: ns }).code !== 0) throw new Error(`put ${k} failed`)
  }
  put('/coreos.com/network/config', '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}')
  put('/coreos.com/network/subnets/10.244.2.0-24', '{"PublicIP":"192.168.50.2","PublicIPv6":null,"BackendType":"host-gw","BackendData":null}')
  const subnetFile = join(scope.tmp(), 'subnet.env')
  writeFileSync(subnetFile, 'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n')
  const routes = () => {
    const j = JSON.parse(must(['ip', '-n', ns, '-j', 'route', 'show', 'table', 'main']).stdout) as { dst: string; gateway?: string }[]
    return j.filter((r) => r.gateway).map((r) => `${r.dst} via ${r.gateway}`)
  }
  return { ns, etcd, subnetFile, routes }
}
