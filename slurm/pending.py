"""Why a pending Slurm job is waiting, in words, with the option to change: `explain_pending(reason)`.

Slurm gives a pending job a one-word reason (`squeue -o %r`, sacct's Reason). Most resolve on their own
(Resources, Priority, JobArrayTaskLimit, BeginTime after a requeue) and need no words. The ones below
never do, or only once the user's other jobs end: a job waiting for them waits silently for ever unless
somebody changes the request. The advice names the launcher's flags (slurm/options.py), because that is
what a user changes; the reasons are Slurm's own words, so this module knows Slurm and nothing of models.
"""

from __future__ import annotations

import re

# (reason pattern, what it means and what to do). First match wins; patterns are matched on the whole word.
_NEVER_ON_ITS_OWN: tuple[tuple[str, str], ...] = (
    (r"PartitionConfig",
     "the request does not fit the partition (more CPUs, memory or GPUs than its nodes have, or a limit of the "
     "partition); it will never start: cancel it and relaunch asking less (--cpus, --mem-gb, --gpus) or on "
     "another --partition (`sinfo -o '%P %c %m %G %l'` shows what each offers)"),
    (r"PartitionTimeLimit",
     "the time limit is above the partition's maximum; it will never start: relaunch with a lower --time-min "
     "(`sinfo -o '%P %l'`)"),
    (r"PartitionNodeLimit",
     "the job asks for more nodes than the partition allows; relaunch on another --partition"),
    (r"Partition(Down|Inactive)",
     "the partition is down or inactive; relaunch on another --partition, or ask the admins"),
    (r"ReqNodeNotAvail",
     "a node the job needs is down, drained or reserved; it waits until an admin brings it back: relaunch on "
     "another --partition, or drop the node from --sbatch nodelist=… / add it to --sbatch exclude=…"),
    (r"BadConstraints",
     "no node has the features asked for; relaunch with a --constraint that `sinfo -o '%P %f'` lists, or none"),
    (r"InvalidAccount|InvalidQOS",
     "the account or QOS cannot run this job; relaunch with an --account / --qos from "
     "`sacctmgr show assoc user=$USER`"),
    (r"(QOS|Assoc)\w*(PerJob|Wall|MinTRES)\w*",
     "the job asks for more than the QOS / account allows any single job; it will never start: relaunch asking "
     "less (--cpus, --mem-gb, --gpus, --time-min) or with another --qos / --account "
     "(`sacctmgr show qos`)"),
    (r"(QOS|Assoc)\w*",
     "a QOS / account limit (jobs, CPUs, GPUs or memory of your group or user at once) is reached; it starts "
     "only when your other jobs end: lower --array-parallelism, or relaunch with another --qos / --account"),
    (r"JobHeld(Admin|User)",
     "the job is held; `scontrol release JOBID` lets it start (an admin hold needs the admins)"),
    (r"DependencyNeverSatisfied",
     "it depends on a job that failed; it will never start: cancel it and relaunch"),
)


def explain_pending(reason: str) -> str:
    """Words for a pending reason that will not resolve on its own; '' for one that will (or is unknown).

    `reason` is Slurm's word as squeue or sacct print it, e.g. 'PartitionConfig', 'QOSMaxCpuPerJobLimit',
    or 'ReqNodeNotAvail, UnavailableNodes:node7' (squeue adds the nodes)."""
    word = (reason or "").strip().strip("()")
    for pattern, words in _NEVER_ON_ITS_OWN:
        if re.match(rf"(?:{pattern})\b", word):
            return words
    return ""
