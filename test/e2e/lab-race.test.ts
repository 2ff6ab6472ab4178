// Two nodes started at once on a network with exactly two free subnets: both get one (flannel
// exits on a lost compare-and-set; weft tries another subnet).
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Lab } from '../../scripts/lib/lab/lab.ts'
import { root } from '../helpers/scope.ts'

const lab = new Lab({ dist: join(root, 'dist'), network: '10.244.0.0/16', config: { SubnetMin: '10.244.1.0', SubnetMax: '10.244.2.0' } })
after(async () => {
  await lab.down()
})

test('two nodes started at once on exactly two free subnets both get one, distinct', async () => {
  await lab.up()
  const a = await lab.addNode()
  const b = await lab.addNode()
  lab.startFlanneld(a)
  lab.startFlanneld(b)
  const [sa, sb] = await Promise.all([lab.waitReady(a), lab.waitReady(b)])
  assert.notEqual(sa, sb)
  assert.deepEqual([sa, sb].sort(), ['10.244.1.1/24', '10.244.2.1/24'])
})
