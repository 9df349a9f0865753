"""Kept for one release (0.3) so that jobs queued before lab/ moved into rooms still unpickle on requeue.

Submitit pickles the job's callable by reference (`lab.analyse_job.AnalyseJob`); a job queued by 0.2 and requeued after an
upgrade looks it up here. New code imports lab.jobs.analyse_job. Remove in 0.4.
"""

from lab.jobs.analyse_job import AnalyseJob

__all__ = ["AnalyseJob"]
